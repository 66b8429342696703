//! The MCP server: memory tools and resources over a [`MemoryStore`].
//!
//! Layout: [`tools`] holds the tool router (one method per tool), [`params`] and [`results`]
//! the schemas a model reads and the structured results it gets, [`format`] the compact text
//! beside them, and [`resources`] the `memory://` resources. This module wires them into
//! rmcp's [`ServerHandler`], adding what the macros do not give: a server name and version of
//! our own, and isolation of each tool call so a panic fails one call, not the server.

mod format;
mod params;
mod resources;
mod results;
mod tools;

use std::path::PathBuf;
use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};

use crate::store::MemoryStore;

/// What the server teaches a model at initialisation: when to store, which kinds and
/// relationship types to use, and to search before storing.
pub const INSTRUCTIONS: &str = include_str!("instructions.md");

/// Where the served store is, for `memory_stats`.
#[derive(Debug, Clone)]
pub struct StoreLocation {
    pub path: PathBuf,
    pub namespace: String,
}

/// The mnemograph MCP server. Cheap to clone: every call runs on its own clone.
#[derive(Clone)]
pub struct MnemographServer {
    store: MemoryStore,
    location: Arc<StoreLocation>,
    router: Arc<ToolRouter<Self>>,
}

impl MnemographServer {
    pub fn new(store: MemoryStore, location: StoreLocation) -> Self {
        MnemographServer {
            store,
            location: Arc::new(location),
            router: Arc::new(Self::memory_tools()),
        }
    }

    /// Every tool this server offers.
    pub fn tools(&self) -> Vec<Tool> {
        self.router.list_all()
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
        .with_instructions(INSTRUCTIONS)
    }

    /// Runs the tool in a task of its own: a panic inside it becomes a tool error for this
    /// call instead of taking the connection (and every other call in flight) down with it.
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let server = self.clone();
        let name = request.name.to_string();
        let call = tokio::spawn(async move {
            let router = Arc::clone(&server.router);
            router
                .call(ToolCallContext::new(&server, request, context))
                .await
        });
        match call.await {
            Ok(response) => response,
            Err(join) => {
                tracing::error!(tool = %name, error = %join, "tool call panicked");
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

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.router.get(name).cloned()
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
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
        resources::read(&self.store, &request.uri)
            .await
            .map(Into::into)
    }
}
