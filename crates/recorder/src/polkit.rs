//! Asking polkit whether a caller may see every user's history: `CheckAuthorization` on
//! the system bus, for the caller's bus name (polkit looks up its uid and process itself).

use std::collections::HashMap;
use zbus::zvariant::Value;

/// `CheckAuthorization` flag: polkit may show an authentication dialog.
const ALLOW_USER_INTERACTION: u32 = 1;

#[zbus::proxy(
    interface = "org.freedesktop.PolicyKit1.Authority",
    default_service = "org.freedesktop.PolicyKit1",
    default_path = "/org/freedesktop/PolicyKit1/Authority"
)]
trait Authority {
    #[allow(clippy::type_complexity)]
    fn check_authorization(
        &self,
        subject: &(&str, HashMap<&str, Value<'_>>),
        action_id: &str,
        details: HashMap<&str, &str>,
        flags: u32,
        cancellation_id: &str,
    ) -> zbus::Result<(bool, bool, HashMap<String, String>)>;
}

/// Whether polkit authorises `action` for the connection `bus_name`. `interactive` lets
/// polkit ask for a password (only `Clear` of every row does). Any failure to ask (no
/// polkitd) is a no.
pub async fn authorized(
    connection: &zbus::Connection,
    bus_name: &str,
    action: &str,
    interactive: bool,
) -> bool {
    match check(connection, bus_name, action, interactive).await {
        Ok(answer) => answer,
        Err(error) => {
            eprintln!("sockeye-recorder: cannot ask polkit about {action}: {error}");
            false
        }
    }
}

async fn check(
    connection: &zbus::Connection,
    bus_name: &str,
    action: &str,
    interactive: bool,
) -> zbus::Result<bool> {
    let authority = AuthorityProxy::new(connection).await?;
    let subject = (
        "system-bus-name",
        HashMap::from([("name", Value::from(bus_name))]),
    );
    let flags = if interactive {
        ALLOW_USER_INTERACTION
    } else {
        0
    };
    let (is_authorized, _challenge, _details) = authority
        .check_authorization(&subject, action, HashMap::new(), flags, "")
        .await?;
    Ok(is_authorized)
}
