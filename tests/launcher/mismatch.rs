//! A helper of another version is refused with `ProtocolMismatch`: a stand-in helper
//! (socat bridging its stdio to a server in this test) reports an old `Version`.

use crate::common;
use sockeye::launcher::{self, LaunchError, LaunchMethod};

struct OldHelper;

#[zbus::interface(name = "io.github.sockeye.Capture1")]
impl OldHelper {
    #[zbus(property)]
    async fn version(&self) -> String {
        "0.0.1-old".to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_helper_of_another_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("old-helper.sock");
    let listener = tokio::net::UnixListener::bind(&socket).unwrap();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        zbus::connection::Builder::unix_stream(stream)
            .server(zbus::Guid::generate())
            .unwrap()
            .p2p()
            .serve_at(sockeye_protocol::CAPTURE_PATH, OldHelper)
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
            assert_eq!(helper, "0.0.1-old");
            assert_eq!(expected, sockeye_protocol::VERSION);
        }
        other => panic!("expected ProtocolMismatch, got {:?}", other.err()),
    }
    drop(server);
}
