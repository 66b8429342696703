//! Standard input and output of the stdio transport, waited on by the runtime's event loop
//! when they are pipes.
//!
//! tokio's `stdin()` and `stdout()` work on any kind of file by handing each read and each
//! write to a thread of the blocking pool: a request then costs two hand-offs between threads
//! to be read and two more for its answer to be written, which on the raw pipe at 100k
//! memories was most of what a JSON-RPC `ping` costs (seven to nine thread sleeps each). An
//! MCP client starts the server with a pipe on each, and a pipe can be put in non-blocking
//! mode and waited on like a socket: the worker that handles a request then reads it and
//! writes its answer itself. Anything else (a terminal, a file, `/dev/null`) keeps tokio's
//! streams.
//!
//! Non-blocking mode belongs to the pipe, not to the descriptor: a process sharing the same
//! end of the pipe (a shell's `(mnemograph; cat) | …`) would see it too. Clients give the
//! server pipes of its own, and the mode is put back when the stream is dropped.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The server's standard input.
pub enum Input {
    #[cfg(unix)]
    Pipe(unix::Pipe<tokio::net::unix::pipe::Receiver>),
    Inherited(tokio::io::Stdin),
}

/// The server's standard output.
pub enum Output {
    #[cfg(unix)]
    Pipe(unix::Pipe<tokio::net::unix::pipe::Sender>),
    Inherited(tokio::io::Stdout),
}

impl Input {
    /// Standard input: the pipe itself when it is one, else tokio's stream.
    pub fn stdin() -> Input {
        #[cfg(unix)]
        if let Some(pipe) = unix::Pipe::receiver() {
            return Input::Pipe(pipe);
        }
        Input::Inherited(tokio::io::stdin())
    }
}

impl Output {
    /// Standard output: the pipe itself when it is one, else tokio's stream.
    pub fn stdout() -> Output {
        #[cfg(unix)]
        if let Some(pipe) = unix::Pipe::sender() {
            return Output::Pipe(pipe);
        }
        Output::Inherited(tokio::io::stdout())
    }
}

impl AsyncRead for Input {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            #[cfg(unix)]
            Input::Pipe(pipe) => Pin::new(&mut pipe.stream).poll_read(cx, buf),
            Input::Inherited(stdin) => Pin::new(stdin).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Output {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            #[cfg(unix)]
            Output::Pipe(pipe) => Pin::new(&mut pipe.stream).poll_write(cx, buf),
            Output::Inherited(stdout) => Pin::new(stdout).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            #[cfg(unix)]
            Output::Pipe(pipe) => Pin::new(&mut pipe.stream).poll_flush(cx),
            Output::Inherited(stdout) => Pin::new(stdout).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            #[cfg(unix)]
            Output::Pipe(pipe) => Pin::new(&mut pipe.stream).poll_shutdown(cx),
            Output::Inherited(stdout) => Pin::new(stdout).poll_shutdown(cx),
        }
    }
}

#[cfg(unix)]
mod unix {
    use std::io;
    use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

    use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};
    use tokio::net::unix::pipe::{Receiver, Sender};

    /// One end of a standard pipe, in non-blocking mode while this lives.
    pub struct Pipe<S: AsFd> {
        pub stream: S,
        /// The pipe's mode before: put back when this is dropped.
        was_blocking: bool,
    }

    impl Pipe<Receiver> {
        /// Standard input as a pipe; `None` when it is not one (or cannot be duplicated).
        pub fn receiver() -> Option<Self> {
            Self::open(io::stdin().as_fd(), Receiver::from_owned_fd)
        }
    }

    impl Pipe<Sender> {
        /// Standard output as a pipe; `None` when it is not one (or cannot be duplicated).
        pub fn sender() -> Option<Self> {
            Self::open(io::stdout().as_fd(), Sender::from_owned_fd)
        }
    }

    impl<S: AsFd> Pipe<S> {
        /// A duplicate of `fd` made a stream by `make`, which refuses anything but a pipe and
        /// sets non-blocking mode.
        fn open(fd: BorrowedFd<'_>, make: fn(OwnedFd) -> io::Result<S>) -> Option<Self> {
            let was_blocking = !fcntl_getfl(fd).ok()?.contains(OFlags::NONBLOCK);
            let stream = make(fd.try_clone_to_owned().ok()?).ok()?;
            Some(Pipe {
                stream,
                was_blocking,
            })
        }
    }

    impl<S: AsFd> Drop for Pipe<S> {
        fn drop(&mut self) {
            let fd = self.stream.as_fd();
            if self.was_blocking
                && let Ok(flags) = fcntl_getfl(fd)
            {
                let _ = fcntl_setfl(fd, flags - OFlags::NONBLOCK);
            }
        }
    }
}
