//! Starting the server: the data directory (created on first start, reused
//! after), the HTTPS listener with the server's own certificate, and the
//! handle to stop it.
//!
//! ```text
//! DIR/kaksik.db        SQLite database (WAL)
//! DIR/master.key       master key for secrets at rest (0600)
//! DIR/protocol.key     end-to-end protocol key, sealed by the master key
//! DIR/ca/              dev root and issuing CA
//! DIR/tls/             TLS certificate and key for the listen address
//! DIR/spki-pin         the TLS public-key pin devices are configured with
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kaksik_core::crypto::channel::ProtocolKey;
use kaksik_core::crypto::secret::Secret32;

use crate::at_rest::{self, MasterKey};
use crate::ca::CertificateAuthority;
use crate::clock::Clock;
use crate::config::Config;
use crate::state::Server;
use crate::store::sqlite::SqliteStore;
use crate::store::{RelyingParty, Store};
use crate::tls::TlsIdentity;

/// The relying party that exists from the first start.
pub const DEMO_RP_UUID: &str = "00000000-0000-4000-8000-000000000000";
/// Its name.
pub const DEMO_RP_NAME: &str = "DEMO";

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A file in the data directory.
    #[error("{path}: {detail}")]
    DataDir {
        /// Which file.
        path: PathBuf,
        /// What failed.
        detail: String,
    },
    /// The database.
    #[error("database: {0}")]
    Store(#[from] crate::store::StoreError),
    /// Binding or serving.
    #[error("listener: {0}")]
    Listen(String),
}

fn data_error(path: &Path, detail: impl ToString) -> StartError {
    StartError::DataDir {
        path: path.to_owned(),
        detail: detail.to_string(),
    }
}

/// Everything in a data directory, opened (and created on first start).
pub struct DataDir {
    /// The assembled server state.
    pub server: Arc<Server>,
    /// The TLS identity.
    pub tls: TlsIdentity,
}

/// Opens `dir`, creating what is missing. `listen` names the host the TLS
/// certificate is made for on first start.
pub async fn open(
    dir: &Path,
    config: Config,
    clock: Arc<dyn Clock>,
) -> Result<DataDir, StartError> {
    std::fs::create_dir_all(dir).map_err(|e| data_error(dir, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| data_error(dir, e))?;
    }
    let master_path = dir.join("master.key");
    let master =
        MasterKey::load_or_create(&master_path).map_err(|e| data_error(&master_path, e))?;
    let protocol_key = protocol_key(dir, &master)?;

    let ca_dir = dir.join("ca");
    let ca = match CertificateAuthority::load(&ca_dir) {
        Ok(ca) => ca,
        Err(_) if !ca_dir.exists() => {
            let ca = CertificateAuthority::create_dev("Kaksik Dev")
                .map_err(|e| data_error(&ca_dir, e))?;
            ca.save(&ca_dir).map_err(|e| data_error(&ca_dir, e))?;
            ca
        }
        Err(error) => return Err(data_error(&ca_dir, error)),
    };

    let tls_dir = dir.join("tls");
    let tls = match TlsIdentity::load(&tls_dir) {
        Ok(tls) => tls,
        Err(_) if !tls_dir.exists() => {
            let tls = TlsIdentity::create(&config.listen.ip().to_string())
                .map_err(|e| data_error(&tls_dir, e))?;
            tls.save(&tls_dir).map_err(|e| data_error(&tls_dir, e))?;
            tls
        }
        Err(error) => return Err(data_error(&tls_dir, error)),
    };
    let pin_path = dir.join("spki-pin");
    std::fs::write(&pin_path, format!("{}\n", tls.spki_pin()))
        .map_err(|e| data_error(&pin_path, e))?;

    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.join("kaksik.db")).await?);
    let mut tx = store.begin().await?;
    if tx.rp(DEMO_RP_UUID).await?.is_none() {
        tx.upsert_rp(
            &RelyingParty {
                uuid: DEMO_RP_UUID.into(),
                name: DEMO_RP_NAME.into(),
            },
            clock.now(),
        )
        .await?;
    }
    tx.commit().await?;

    let public_url = format!("https://{}", config.listen);
    let server = Arc::new(Server::new(
        store,
        clock,
        master,
        protocol_key,
        ca,
        config,
        public_url,
    ));
    Ok(DataDir { server, tls })
}

fn protocol_key(dir: &Path, master: &MasterKey) -> Result<ProtocolKey, StartError> {
    let path = dir.join("protocol.key");
    match std::fs::read(&path) {
        Ok(sealed) => {
            let bytes = master
                .open("protocol-key", &sealed)
                .map_err(|e| data_error(&path, e))?;
            let bytes: [u8; 32] = bytes
                .expose()
                .try_into()
                .map_err(|_| data_error(&path, "not a 32-byte key"))?;
            ProtocolKey::from_bytes(&Secret32::new(bytes)).map_err(|e| data_error(&path, e))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let key = ProtocolKey::generate();
            let sealed = master
                .seal("protocol-key", key.to_bytes().expose())
                .map_err(|e| data_error(&path, e))?;
            at_rest::write_private(&path, &sealed).map_err(|e| data_error(&path, e))?;
            Ok(key)
        }
        Err(error) => Err(data_error(&path, error)),
    }
}

/// A server listening on HTTPS.
pub struct Running {
    /// `https://host:port`.
    pub url: String,
    /// The TLS public-key pin (`sha256/…`).
    pub spki_pin: String,
    /// The shared state (tests reach the store and clock through it).
    pub server: Arc<Server>,
    handle: axum_server::Handle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Stops accepting, lets requests in flight finish briefly, and waits.
    pub async fn shutdown(self) {
        self.handle
            .graceful_shutdown(Some(std::time::Duration::from_secs(2)));
        let _ = self.task.await;
    }

    /// Serves until `stop` resolves (a signal, for `kaksik serve`), then
    /// stops accepting and lets requests in flight finish, as
    /// [`Running::shutdown`] does. Every state change is one committed
    /// transaction, so whatever is cut off is simply not done.
    pub async fn serve_until(
        self,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<(), StartError> {
        let Running {
            handle, mut task, ..
        } = self;
        let joined = tokio::select! {
            joined = &mut task => joined,
            () = stop => {
                tracing::info!("stopping: finishing the requests in flight");
                handle.graceful_shutdown(Some(std::time::Duration::from_secs(5)));
                task.await
            }
        };
        joined
            .map_err(|e| StartError::Listen(e.to_string()))?
            .map_err(|e| StartError::Listen(e.to_string()))
    }

    /// Waits until the server stops.
    pub async fn wait(self) -> Result<(), StartError> {
        self.task
            .await
            .map_err(|e| StartError::Listen(e.to_string()))?
            .map_err(|e| StartError::Listen(e.to_string()))
    }
}

/// Binds `data.server.config.listen` (port 0 picks a free port) and serves.
pub async fn serve(data: DataDir) -> Result<Running, StartError> {
    let listen: SocketAddr = data.server.config.listen;
    let listener = std::net::TcpListener::bind(listen)
        .map_err(|e| StartError::Listen(format!("{listen}: {e}")))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| StartError::Listen(e.to_string()))?;
    let bound = listener
        .local_addr()
        .map_err(|e| StartError::Listen(e.to_string()))?;
    let tls_config = data
        .tls
        .rustls_server_config()
        .map_err(|e| StartError::Listen(e.to_string()))?;
    let handle = axum_server::Handle::new();
    let mut app = crate::api::router(data.server.clone());
    if data.server.config.demo_rp {
        let demo = crate::demo_rp::router(&data.server, bound, data.tls.spki_pin())
            .map_err(|e| StartError::Listen(format!("demo relying party: {e}")))?;
        app = app.merge(demo);
    }
    let task = tokio::spawn(
        axum_server::from_tcp_rustls(
            listener,
            axum_server::tls_rustls::RustlsConfig::from_config(tls_config),
        )
        .handle(handle.clone())
        .serve(app.into_make_service()),
    );
    let url = format!("https://{bound}");
    data.server.set_bound_url(&url);
    tracing::info!(%url, pin = data.tls.spki_pin(), "kaksik server listening");
    Ok(Running {
        url,
        spki_pin: data.tls.spki_pin().to_owned(),
        server: data.server,
        handle,
        task,
    })
}
