//! A helper of another version is refused with `ProtocolMismatch`: a stand-in helper
//! (socat bridging its stdio to a server in this test) reports an old `Version` — an older
//! release, or this release before the payloads' revision 2 (which sends every command
//! line in every update: its `Updated` signals would not even decode here).

use crate::common;
use sockeye::launcher::{self, LaunchError, LaunchMethod};

struct OldHelper(&'static str);

#[zbus::interface(name = "io.github.sockeye.Capture1")]
impl OldHelper {
    #[zbus(property)]
    async fn version(&self) -> String {
        self.0.to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_helper_of_another_version_is_refused() {
    refused("0.0.1-old").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_helper_of_this_release_with_the_first_payloads_is_refused() {
    // What `Version` said before the payloads had a revision of their own.
    refused(env!("CARGO_PKG_VERSION")).await;
}

/// Launches a stand-in that reports `version`; expects `ProtocolMismatch`.
async fn refused(version: &'static str) {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("old-helper.sock");
    let listener = tokio::net::UnixListener::bind(&socket).unwrap();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        zbus::connection::Builder::unix_stream(stream)
            .server(zbus::Guid::generate())
            .unwrap()
            .p2p()
            .serve_at(sockeye_protocol::CAPTURE_PATH, OldHelper(version))
            .unwrap()
            .build()
            .await
            .unwrap()
    });
    let helper = dir.path().join("sockeye-helper");
    common::script(
        &helper,
        &format!("exec socat STDIO UNIX-CONNECT:{}", socket.display()),
    );
    let result = launcher::launch(&LaunchMethod::Direct { helper }).await;
    match result {
        Err(LaunchError::ProtocolMismatch { helper, expected }) => {
            assert_eq!(helper, version);
            assert_eq!(expected, sockeye_protocol::VERSION);
        }
        other => panic!("expected ProtocolMismatch, got {:?}", other.err()),
    }
    drop(server);
}
