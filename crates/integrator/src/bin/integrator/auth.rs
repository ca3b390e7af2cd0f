//! `auth login` and `auth revoke`.

use std::process::ExitCode;
use std::sync::Arc;

use crate::store;
use anyhow::Context;
use integrator::descriptor;
use integrator::{Runtime, RuntimeOptions};

use crate::exit::{setup_failed, Setup};
use crate::flows::connector_package;
use crate::{AuthAction, AuthArgs};

/// The runtime and component for the `auth` commands, on the chosen store.
fn auth_runtime(
    args: &AuthArgs,
) -> Result<
    (
        Runtime,
        integrator::LoadedConnector,
        Arc<dyn token_store::TokenStore>,
    ),
    Setup,
> {
    let (path, package) = connector_package(args.connector.as_deref())?;
    let store = store::open(
        args.store.token_store.as_deref(),
        args.store.store_key_file.as_deref(),
    )
    .map_err(Setup::store)?;
    let runtime = Runtime::new(RuntimeOptions {
        token_store: store.clone(),
        ..RuntimeOptions::default()
    })
    .map_err(Setup::config)?;
    let loaded = runtime
        .load_bytes(&package.wasm)
        .with_context(|| format!("loading the component of {}", path.display()))
        .map_err(Setup::config)?;
    descriptor::check_against(&package.descriptor, &loaded.exports).map_err(Setup::config)?;
    Ok((runtime, loaded, store))
}

fn secret_from_env(var: Option<&str>) -> Result<Option<integrator::secret::Secret>, Setup> {
    match var {
        None => Ok(None),
        Some(v) => std::env::var(v)
            .ok()
            .filter(|s| !s.is_empty())
            .map(|s| Some(integrator::secret::Secret::new(s)))
            .ok_or_else(|| {
                Setup::config(anyhow::anyhow!(
                    "--client-secret-env {v}: the environment variable {v} is not set"
                ))
            }),
    }
}

pub async fn run(action: AuthAction, args: AuthArgs) -> ExitCode {
    let (runtime, loaded, store) = match auth_runtime(&args) {
        Ok(r) => r,
        Err(e) => return setup_failed(e),
    };
    let result = match action {
        AuthAction::Login {
            connection,
            client_id,
            client_secret_env,
            scopes,
            port,
            api_url,
            authorize_url,
            no_browser,
            timeout,
        } => {
            let client_secret = match secret_from_env(client_secret_env.as_deref()) {
                Ok(s) => s,
                Err(e) => return setup_failed(e),
            };
            let options = crate::login::LoginOptions {
                connection: connection.clone(),
                client_id,
                client_secret,
                scopes: vec![scopes],
                port,
                api_url: Some(api_url),
                authorize_url: Some(authorize_url),
                open_browser: !no_browser,
                wait: std::time::Duration::from_secs(timeout),
            };
            crate::login::login(&runtime, &loaded, options, async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map(|who| {
                println!(
                    "Authorized @{} ({}) for connection `{connection}`; the tokens are in the token store ({}), never shown.",
                    who.username,
                    who.name,
                    store.describe()
                );
            })
        }
        AuthAction::Revoke {
            connection,
            client_id,
            api_url,
            client_secret_env,
        } => {
            let client_secret = match secret_from_env(client_secret_env.as_deref()) {
                Ok(s) => s,
                Err(e) => return setup_failed(e),
            };
            match crate::login::find_family(
                store.as_ref(),
                &connection,
                client_id.as_deref(),
                api_url.as_deref(),
            ) {
                Err(e) => Err(e),
                Ok(family) => crate::login::revoke(
                    &runtime,
                    &loaded,
                    store.as_ref(),
                    &family,
                    client_secret,
                )
                .await
                .map(|()| {
                    println!(
                        "Revoked the tokens of `{connection}` (client {}, {}) at X and forgot them.",
                        family.client_id, family.api_origin
                    );
                }),
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
