//! The MCP server: memory tools and resources over a [`MemoryStore`].
//!
//! Layout: [`tools`] holds the tool router (one method per tool), [`params`] and [`results`]
//! the schemas a model reads and the structured results it gets, [`schema`] what those schemas
//! promise (strict inputs, known formats) and the check of arguments against them, [`format`]
//! the compact text beside them, [`resources`] the `memory://` resources, and [`compat`] the tools of the
//! reference knowledge-graph memory server (`--profile knowledge-graph`). This module wires them into
//! rmcp's [`ServerHandler`], adding what the macros do not give: a server name and version of
//! our own, and isolation of each tool call so a panic fails one call, not the server.

mod compat;
mod format;
pub(crate) mod params;
mod resources;
mod results;
mod roots;
mod schema;
mod serve;
mod stdio;
mod streams;
mod tools;

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, CustomRequest,
    CustomResult, ErrorCode, Implementation, ListResourceTemplatesResult, ListResourcesResult,
    ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse,
    ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use tokio::sync::RwLock;

use self::roots::SessionProject;
use crate::app::App;
use crate::config::{Config, Profile};
use crate::store::MemoryStore;

pub use serve::{DRAIN_TIMEOUT, ServeError, serve};
pub use stdio::{LineGuard, stdio};
pub use streams::{Input, Output};

/// What the server teaches a model at initialisation: when to store, which kinds and
/// relationship types to use, and to search before storing.
pub const INSTRUCTIONS: &str = include_str!("instructions.md");

/// The MCP request methods: one of these reaching [`ServerHandler::on_custom_request`] had
/// params of the wrong shape rather than an unknown name.
const MCP_METHODS: &[&str] = &[
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
];

/// The mnemograph MCP server. Cheap to clone: every call runs on its own clone.
#[derive(Clone)]
pub struct MnemographServer {
    /// The open store and its sync link; `store` is its store, kept at hand for the tools.
    app: App,
    store: MemoryStore,
    router: Arc<ToolRouter<Self>>,
    profile: Profile,
    /// Why the store could not be opened, when the server runs without one: every tool
    /// call answers with it, so the client learns why (an exit at start shows a client only
    /// "connection closed").
    unavailable: Option<Arc<str>>,
    /// The project the session works in (see `roots.rs`): a memory stored without one is
    /// filed under it, so the tools and the hooks meet.
    project: Arc<SessionProject>,
    /// Each running tool call holds a read guard; [`MnemographServer::drain`] takes the write
    /// side, so it returns once every call in flight has finished.
    calls: Arc<RwLock<()>>,
}

impl MnemographServer {
    /// A server over `app` offering the tool set of `profile`. The memory tools list no
    /// output schemas unless [`MnemographServer::with_output_schemas`] asks for them; the
    /// knowledge-graph tools list theirs, as the reference server does.
    pub fn new(app: App, profile: Profile) -> Self {
        MnemographServer {
            store: app.store().clone(),
            app,
            router: Arc::new(Self::router(profile, profile == Profile::KnowledgeGraph)),
            profile,
            unavailable: None,
            project: Arc::new(SessionProject::new(None)),
            calls: Arc::new(RwLock::new(())),
        }
    }

    /// The server `config` describes: its store opened and its background work (sync
    /// worker, embedder) started. When the primary says no (a token, a namespace), the server
    /// starts anyway and every tool says why, where the client shows it; refusing to start
    /// would show the client only "connection closed". Any other failure is returned.
    pub async fn open(config: &Config) -> crate::Result<Self> {
        let profile = config.profile.value;
        match App::open(config).await {
            Ok(app) => {
                app.start_background();
                let cwd = std::env::current_dir().ok();
                let project = cwd.map(|d| crate::project::Project::detect(&d).name.into());
                Ok(MnemographServer {
                    project: Arc::new(SessionProject::new(project)),
                    ..Self::new(app, profile)
                })
            }
            Err(refused) if refused.is_refused_by_primary() => {
                tracing::error!(error = %refused, "cannot open the store; every tool will say why");
                let stand_in = App::preview(config).await?;
                Ok(Self::unavailable(stand_in, profile, refused.to_string()))
            }
            Err(other) => Err(other),
        }
    }

    /// This server for another session (of the HTTP transport): the same store and tools,
    /// and a project of its own, since each client has its own roots.
    pub fn for_session(&self) -> Self {
        MnemographServer {
            project: Arc::new(self.project.for_new_session()),
            ..self.clone()
        }
    }

    /// This server with every tool's output schema in `tools/list`, for clients that
    /// validate structured results (they double the list's size).
    pub fn with_output_schemas(self) -> Self {
        MnemographServer {
            router: Arc::new(Self::router(self.profile, true)),
            ..self
        }
    }

    fn router(profile: Profile, output_schemas: bool) -> ToolRouter<Self> {
        let mut router = match profile {
            Profile::Memory => Self::memory_tools(),
            Profile::KnowledgeGraph => Self::knowledge_graph_tools(),
        };
        schema::tidy(&mut router, output_schemas);
        router
    }

    /// A server whose store could not be opened for `reason` (e.g. the primary refused the
    /// token): it offers the tools of `profile`, and each answers with the reason. `app` is
    /// a stand-in (an empty store) that no tool reaches.
    fn unavailable(app: App, profile: Profile, reason: String) -> Self {
        MnemographServer {
            unavailable: Some(reason.into()),
            ..Self::new(app, profile)
        }
    }

    /// Waits until every tool call in flight has finished, so a shutdown never cuts a write
    /// short, then stops the app's background work (`App::stop_background`). A call that
    /// arrives meanwhile waits until after the drain.
    pub async fn drain(&self) {
        let _all = self.calls.write().await;
        self.app.stop_background().await;
    }

    /// An error saying why when the store could not be opened: resources are read from the
    /// store, and the stand-in's emptiness must not pass for an empty memory.
    fn available(&self) -> Result<(), ErrorData> {
        match &self.unavailable {
            Some(reason) => Err(ErrorData::internal_error(
                format!("the store could not be opened: {reason}. Fix that and restart the server"),
                None,
            )),
            None => Ok(()),
        }
    }

    /// Every tool this server offers.
    pub fn tools(&self) -> Vec<Tool> {
        self.router.list_all()
    }
}

/// What a caught panic says: its message when it has one (`panic!` with a literal or with
/// format arguments), for the log.
fn panic_message(panic: &(dyn Any + Send)) -> &str {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(message), _) => message,
        (None, Some(message)) => message,
        (None, None) => "a panic without a message",
    }
}

impl ServerHandler for MnemographServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
        .with_server_info(
            Implementation::new("mnemograph", env!("CARGO_PKG_VERSION"))
                .with_title("mnemograph memory")
                .with_description(env!("CARGO_PKG_DESCRIPTION")),
        )
        .with_instructions(match self.profile {
            Profile::Memory => INSTRUCTIONS,
            Profile::KnowledgeGraph => compat::INSTRUCTIONS,
        })
    }

    /// Runs the tool with its panics caught: a panic inside it becomes a tool error for this
    /// call instead of taking the connection (and every other call in flight) down with it.
    /// The call runs in place, in rmcp's task for the request, not in a task of its own: a
    /// spawned task cost every call a task and a wake-up of another worker thread, more than
    /// a one-row read.
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.to_string();
        let Some(tool) = self.router.get(&name) else {
            // rmcp's own answer is a bare "tool not found".
            return Err(ErrorData::invalid_params(
                format!("unknown tool {name:?}; tools/list gives the tools this server offers"),
                None,
            ));
        };
        // A stray argument is a mistake the model can fix, so it is a tool error that says
        // what is valid; serde would ignore it or answer a bare "unknown field".
        if let Some(arguments) = &request.arguments
            && let Err(message) = schema::check_arguments(tool, arguments)
        {
            return Ok(CallToolResult::error(vec![ContentBlock::text(message)]).into());
        }
        if let Some(reason) = &self.unavailable {
            return Ok(CallToolResult::error(vec![ContentBlock::text(format!(
                "{name}: the store could not be opened: {reason}. Fix that and restart the \
                 server"
            ))])
            .into());
        }
        let _in_flight = self.calls.read().await;
        let call = self
            .router
            .call(ToolCallContext::new(self, request, context));
        match AssertUnwindSafe(call).catch_unwind().await {
            Ok(response) => response,
            Err(panic) => {
                let error = panic_message(panic.as_ref());
                tracing::error!(tool = %name, %error, "tool call panicked");
                Ok(CallToolResult::error(vec![ContentBlock::text(format!(
                    "internal error in {name}: the call failed unexpectedly and nothing more \
                     is known; the server is still running, so retry once, and report it if \
                     it happens again"
                ))])
                .into())
            }
        }
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools()))
    }

    /// A request rmcp matched to no method: an unknown method, or an MCP method whose params
    /// do not have its shape (e.g. `tools/call` with `arguments` that are not an object).
    /// rmcp's own answer is only the method's name; this one says which case it is.
    async fn on_custom_request(
        &self,
        request: CustomRequest,
        _context: RequestContext<RoleServer>,
    ) -> Result<CustomResult, ErrorData> {
        let method = request.method;
        Err(if MCP_METHODS.contains(&method.as_str()) {
            ErrorData::invalid_params(
                format!("the params of {method} do not have the shape MCP gives them"),
                None,
            )
        } else {
            ErrorData::new(
                ErrorCode::METHOD_NOT_FOUND,
                format!("unknown method {method:?}"),
                None,
            )
        })
    }

    /// The client's roots changed: the next tool call that needs the project asks again.
    async fn on_roots_list_changed(&self, _context: NotificationContext<RoleServer>) {
        self.project.roots_changed().await;
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.router.get(name).cloned()
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        self.available()?;
        resources::list(&self.store).await
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(resources::templates())
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        self.available()?;
        resources::read(&self.store, &request.uri)
            .await
            .map(Into::into)
    }
}

#[cfg(test)]
mod tests {
    use rmcp::ServiceExt;
    use rmcp::handler::server::router::tool::ToolRoute;
    use rmcp::model::JsonObject;

    use super::*;

    /// A server over a store in `dir` with one extra tool that panics.
    async fn server_with_a_panicking_tool(dir: &std::path::Path) -> MnemographServer {
        let app = crate::app::tests::open_in(dir).await;
        let mut server = MnemographServer::new(app, Profile::Memory);
        let mut router = MnemographServer::memory_tools();
        let mut schema = JsonObject::new();
        schema.insert("type".into(), "object".into());
        router.add_route(ToolRoute::new_dyn(
            Tool::new("boom", "always panics", Arc::new(schema)),
            |_| Box::pin(async { panic!("boom") }),
        ));
        server.router = Arc::new(router);
        server
    }

    #[tokio::test]
    async fn a_panicking_call_fails_alone_and_the_server_keeps_serving() {
        let dir = tempfile::tempdir().unwrap();
        let server = server_with_a_panicking_tool(dir.path()).await;
        let (server_io, client_io) = tokio::io::duplex(64 * 1024);
        let running =
            tokio::spawn(async move { server.serve(server_io).await.unwrap().waiting().await });
        let client = ().serve(client_io).await.unwrap();

        let failed = client
            .call_tool(CallToolRequestParams::new("boom"))
            .await
            .unwrap();
        assert_eq!(failed.is_error, Some(true));
        let message = failed.content[0].as_text().unwrap().text.clone();
        assert!(message.contains("internal error in boom"), "{message}");

        let stats = client
            .call_tool(CallToolRequestParams::new("memory_stats"))
            .await
            .unwrap();
        assert_eq!(stats.is_error, Some(false));
        client.cancel().await.unwrap();
        running.await.unwrap().unwrap();
    }
}
