//! Logs to stderr, and traces over OTLP where `OTEL_EXPORTER_OTLP_ENDPOINT`
//! (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set: one span per flow run
//! and one per X call (target `integrator::otel`; their attributes are
//! names, kinds and statuses, never a token). HTTP with protobuf, or JSON
//! when `OTEL_EXPORTER_OTLP_PROTOCOL=http/json`; the standard OTEL_*
//! variables configure the rest (headers, timeout, service name).

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// Keeps the trace exporter until the process ends: [`Telemetry::shutdown`]
/// sends the spans still buffered.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

fn otlp_wanted() -> bool {
    [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|k| std::env::var(k).is_ok_and(|v| !v.trim().is_empty()))
}

fn provider() -> Result<SdkTracerProvider, String> {
    let protocol = match std::env::var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .or_else(|_| std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .as_deref()
    {
        Ok("http/json") => Protocol::HttpJson,
        Ok("http/protobuf") | Err(_) => Protocol::HttpBinary,
        Ok(other) => {
            return Err(format!(
                "OTEL_EXPORTER_OTLP_PROTOCOL={other}: this runtime sends http/protobuf or http/json"
            ))
        }
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .build()
        .map_err(|e| format!("the OTLP exporter: {e}"))?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(
            std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "integrator".into()),
        )
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

impl Telemetry {
    pub fn init(verbose: u8) -> Telemetry {
        let default = match verbose {
            0 => "warn",
            1 => "warn,integrator=debug,x_sim=info",
            _ => "debug,wasmtime=info,cranelift=info",
        };
        let filter = tracing_subscriber::EnvFilter::try_from_env("INTEGRATOR_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
        let fmt = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_target(true)
            .with_filter(filter);
        let (provider, problem) = if otlp_wanted() {
            match provider() {
                Ok(p) => (Some(p), None),
                Err(e) => (None, Some(e)),
            }
        } else {
            (None, None)
        };
        let otel = provider.as_ref().map(|p| {
            tracing_opentelemetry::layer()
                .with_tracer(p.tracer("integrator"))
                .with_filter(
                    tracing_subscriber::filter::Targets::new()
                        .with_target("integrator::otel", tracing::Level::INFO),
                )
        });
        tracing_subscriber::registry().with(fmt).with(otel).init();
        if let Some(e) = problem {
            tracing::warn!(target: "integrator", "no traces: {e}");
        }
        Telemetry { provider }
    }

    /// Sends what is buffered (bounded by the exporter's timeout).
    pub fn shutdown(self) {
        if let Some(p) = self.provider {
            if let Err(e) = p.shutdown() {
                eprintln!("warning: sending the last traces failed: {e}");
            }
        }
    }
}
