//! `fermyon:spin/mqtt@2.0.0`: Spin's MQTT interface. A component opens a connection to the
//! broker it names (`mqtt://host:port?client_id=...`, rumqttc's URL form, as in Spin), which
//! must be in its `allowed_outbound_hosts` (scheme `mqtt`, port 1883 by default), and
//! publishes on it. As in Spin, `open` sends nothing, and `publish` returns once the broker
//! has taken the message at the QoS asked for (sent, `PUBACK` or `PUBCOMP`).
//!
//! Grant: the component's outbound grant (see [`super::outbound_http`]). State: the grant
//! and how many connections the instance holds (at most [`MAX_CONNECTIONS`], Spin's bound).
//! Resources: open connections ([`MqttConnection`]), each with its own client and event loop.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS as Level};
use wasmtime::component::{Linker, Resource};

use super::base::{Declared, HasView, View};
use crate::manifest::AllowedHosts;
use crate::wasi_bindings::fermyon::spin::mqtt::{Error, Host, HostConnection, Payload, Qos};

/// Most connections one instance holds open at once.
pub const MAX_CONNECTIONS: usize = 1024;
/// Longest a publish waits for the broker; the request's own deadline is the outer bound.
const PUBLISH_WAIT: Duration = Duration::from_secs(10);
/// Requests queued to one connection's event loop.
const QUEUE: usize = 64;

/// One open connection: its client and the event loop that carries its packets.
pub struct MqttConnection {
    client: AsyncClient,
    events: EventLoop,
}

/// Spin's MQTT capability of one instance.
#[derive(Clone)]
pub struct MqttState {
    component: Arc<str>,
    allowed: Arc<AllowedHosts>,
    open: usize,
}

impl MqttState {
    /// `declared`'s outbound grant.
    pub fn new(declared: &Declared<'_>, allowed: Arc<AllowedHosts>) -> MqttState {
        MqttState {
            component: declared.name.into(),
            allowed,
            open: 0,
        }
    }
}

/// What the MQTT traits are implemented on.
pub type MqttView<'a> = View<'a, MqttState>;

/// Links `fermyon:spin/mqtt@2.0.0`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> MqttView<'_>,
) -> wasmtime::Result<()> {
    crate::wasi_bindings::fermyon::spin::mqtt::add_to_linker::<T, HasView<MqttState>>(linker, get)
}

impl Host for MqttView<'_> {}

impl HostConnection for MqttView<'_> {
    async fn open(
        &mut self,
        address: String,
        username: String,
        password: String,
        keep_alive_interval_in_secs: u64,
    ) -> wasmtime::Result<Result<Resource<MqttConnection>, Error>> {
        if !self.state.allowed.allows_address(&address) {
            tracing::warn!(component = %self.state.component, "mqtt address not in allowed_outbound_hosts");
            return Ok(Err(Error::ConnectionFailed(format!(
                "address {address} is not permitted"
            ))));
        }
        if self.state.open >= MAX_CONNECTIONS {
            return Ok(Err(Error::TooManyConnections));
        }
        let mut options = match MqttOptions::parse_url(&address) {
            Ok(options) => options,
            Err(e) => {
                tracing::debug!(component = %self.state.component, error = %e, "mqtt address refused");
                return Ok(Err(Error::InvalidAddress));
            }
        };
        if !username.is_empty() {
            options.set_credentials(username, password);
        }
        // rumqttc refuses (panics on) a keep-alive under a second other than none.
        options.set_keep_alive(Duration::from_secs(keep_alive_interval_in_secs.max(1)));
        let (client, events) = AsyncClient::new(options, QUEUE);
        let connection = self
            .table
            .push(MqttConnection { client, events })
            .map_err(|_| Error::TooManyConnections);
        if connection.is_ok() {
            self.state.open += 1;
        }
        Ok(connection)
    }

    async fn publish(
        &mut self,
        connection: Resource<MqttConnection>,
        topic: String,
        payload: Payload,
        qos: Qos,
    ) -> wasmtime::Result<Result<(), Error>> {
        let connection = self.table.get_mut(&connection)?;
        let level = match qos {
            Qos::AtMostOnce => Level::AtMostOnce,
            Qos::AtLeastOnce => Level::AtLeastOnce,
            Qos::ExactlyOnce => Level::ExactlyOnce,
        };
        if let Err(e) = connection
            .client
            .publish(topic, level, false, payload)
            .await
        {
            return Ok(Err(Error::Other(e.to_string())));
        }
        let taken = async {
            loop {
                match connection.events.poll().await {
                    Ok(Event::Outgoing(Outgoing::Publish(_))) if level == Level::AtMostOnce => {
                        return Ok(());
                    }
                    Ok(Event::Incoming(Packet::PubAck(_))) if level == Level::AtLeastOnce => {
                        return Ok(());
                    }
                    Ok(Event::Incoming(Packet::PubComp(_))) if level == Level::ExactlyOnce => {
                        return Ok(());
                    }
                    Ok(_) => {}
                    Err(e) => return Err(Error::ConnectionFailed(e.to_string())),
                }
            }
        };
        Ok(tokio::time::timeout(PUBLISH_WAIT, taken)
            .await
            .unwrap_or_else(|_| {
                Err(Error::ConnectionFailed(
                    "the broker did not take the message in time".into(),
                ))
            }))
    }

    async fn drop(&mut self, connection: Resource<MqttConnection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        self.state.open = self.state.open.saturating_sub(1);
        Ok(())
    }
}
