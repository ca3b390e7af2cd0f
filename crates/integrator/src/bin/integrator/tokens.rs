//! `tokens list` and `tokens forget`.

use std::process::ExitCode;

use crate::store;

use crate::exit::{setup_failed, Setup};
use crate::{StoreArgs, TokensAction};

pub fn run(action: TokensAction, store: StoreArgs) -> ExitCode {
    let opened = match store::open(
        store.token_store.as_deref(),
        store.store_key_file.as_deref(),
    ) {
        Ok(s) => s,
        Err(e) => return setup_failed(Setup::store(e)),
    };
    let done = match action {
        TokensAction::List { json: true } => store::list_json(opened.as_ref())
            .map(|v| println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default())),
        TokensAction::List { json: false } => {
            store::list_table(opened.as_ref()).map(|t| print!("{t}"))
        }
        TokensAction::Forget { connection } => {
            store::forget(opened.as_ref(), &connection).map(|n| {
                eprintln!(
                    "forgot {n} token famil{} of `{connection}` in {}",
                    if n == 1 { "y" } else { "ies" },
                    opened.describe()
                )
            })
        }
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
