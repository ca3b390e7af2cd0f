//! Encryption at rest: with a store key, token values are sealed with
//! XChaCha20-Poly1305 (random 192-bit nonces, so no nonce bookkeeping across
//! processes) and bound to their family and field by the associated data, so
//! a sealed value copied onto another row does not open.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::{FamilyKey, Secret, StoreError};

const NONCE_LEN: usize = 24;

/// A 32-byte key for sealing token values. `Debug` never shows it.
#[derive(Clone)]
pub struct StoreKey([u8; 32]);

impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreKey([redacted])")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError(pub String);

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KeyError {}

const KEY_RULE: &str =
    "must be 32 random bytes written as 64 hex digits or as base64 (make one with `openssl rand -base64 32`)";

impl StoreKey {
    pub fn from_bytes(bytes: [u8; 32]) -> StoreKey {
        StoreKey(bytes)
    }

    /// Parses 64 hex digits or base64 (standard or URL-safe, padded or not)
    /// of exactly 32 bytes. `what` names the source in the error
    /// (`INTEGRATOR_STORE_KEY`, a file), never the value.
    pub fn parse(text: &str, what: &str) -> Result<StoreKey, KeyError> {
        let t = text.trim();
        let bytes = if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&t[2 * i..2 * i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .ok()
        } else {
            [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD]
                .iter()
                .find_map(|e| e.decode(t).ok())
        };
        match bytes.map(<[u8; 32]>::try_from) {
            Some(Ok(k)) => Ok(StoreKey(k)),
            _ => Err(KeyError(format!("{what} {KEY_RULE}"))),
        }
    }

    /// Reads a key file (the same encodings as [`StoreKey::parse`]). As
    /// ssh does for private keys, a file others may read is refused: the
    /// key opens every sealed token. The path may be a symlink (secret
    /// volumes are mounted as links); the file it reaches is checked.
    pub fn from_file(path: &std::path::Path) -> Result<StoreKey, KeyError> {
        use std::io::Read;
        let what = "the store key file";
        let mut file = std::fs::File::open(path)
            .map_err(|e| KeyError(format!("cannot read {what} {}: {e}", path.display())))?;
        let meta = file
            .metadata()
            .map_err(|e| KeyError(format!("cannot read {what} {}: {e}", path.display())))?;
        crate::private_fs::check_private_file(path, &meta, what).map_err(KeyError)?;
        let mut text = String::new();
        file.read_to_string(&mut text)
            .map_err(|e| KeyError(format!("cannot read {what} {}: {e}", path.display())))?;
        StoreKey::parse(&text, &format!("the store key file {}", path.display()))
    }
}

/// Seals and opens token values for one store (with or without a key).
#[derive(Clone, Debug)]
pub(crate) struct Sealer {
    key: Option<StoreKey>,
}

fn aad(key: &FamilyKey, field: &str) -> Vec<u8> {
    let mut a = b"wso2-twitter-integrator token v1".to_vec();
    for part in [&key.connection, &key.client_id, &key.api_origin] {
        a.push(0);
        a.extend_from_slice(part.as_bytes());
    }
    a.push(0);
    a.extend_from_slice(field.as_bytes());
    a
}

impl Sealer {
    pub(crate) fn new(key: Option<StoreKey>) -> Sealer {
        Sealer { key }
    }

    pub(crate) fn sealing(&self) -> bool {
        self.key.is_some()
    }

    /// The stored text of a token value: sealed (base64 of nonce and
    /// ciphertext) with a key, else the value itself.
    pub(crate) fn seal(&self, family: &FamilyKey, field: &str, value: &Secret) -> String {
        let Some(k) = &self.key else {
            return value.expose().to_string();
        };
        let cipher = XChaCha20Poly1305::new((&k.0).into());
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ad = aad(family, field);
        let ct = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: value.expose().as_bytes(),
                    aad: &ad,
                },
            )
            // Encryption fails only for messages over 256 GiB.
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        STANDARD_NO_PAD.encode(out)
    }

    /// The token value of a stored text. `sealed` says how it was stored.
    pub(crate) fn open(
        &self,
        family: &FamilyKey,
        field: &str,
        stored: &str,
        sealed: bool,
        backend: &str,
    ) -> Result<Secret, StoreError> {
        if !sealed {
            // Stored before a key was set: read as is, sealed on the next save.
            return Ok(Secret::new(stored));
        }
        let Some(k) = &self.key else {
            return Err(StoreError::Unavailable(format!(
                "{backend}: the tokens of {family} are encrypted: set INTEGRATOR_STORE_KEY (or INTEGRATOR_STORE_KEY_FILE) to the key they were sealed with"
            )));
        };
        let wrong = || {
            StoreError::Unavailable(format!(
                "{backend}: cannot open the sealed tokens of {family}: wrong store key (INTEGRATOR_STORE_KEY), or the stored value was altered; nothing was sent to X"
            ))
        };
        let raw = STANDARD_NO_PAD.decode(stored).map_err(|_| wrong())?;
        if raw.len() < NONCE_LEN {
            return Err(wrong());
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let cipher = XChaCha20Poly1305::new((&k.0).into());
        let ad = aad(family, field);
        let plain = cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: &ad })
            .map_err(|_| wrong())?;
        String::from_utf8(plain)
            .map(Secret::new)
            .map_err(|_| wrong())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fam(c: &str) -> FamilyKey {
        FamilyKey {
            connection: c.into(),
            client_id: "app".into(),
            api_origin: "https://api.x.com".into(),
        }
    }

    #[test]
    fn keys_parse_from_hex_and_base64_and_never_print() {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        let k = StoreKey::parse(hex, "INTEGRATOR_STORE_KEY").unwrap();
        assert_eq!(k.0[1], 0x11);
        let b64 = STANDARD.encode(k.0);
        assert_eq!(StoreKey::parse(&b64, "k").unwrap().0, k.0);
        assert_eq!(
            StoreKey::parse(&URL_SAFE_NO_PAD.encode(k.0), "k")
                .unwrap()
                .0,
            k.0
        );
        let e = StoreKey::parse("short", "INTEGRATOR_STORE_KEY").unwrap_err();
        assert!(e.0.contains("INTEGRATOR_STORE_KEY") && e.0.contains("32"));
        assert!(!format!("{k:?}").contains("11"));
    }

    #[test]
    fn a_key_file_holds_the_same_encodings_and_errors_name_the_file() {
        let dir = std::env::temp_dir().join(format!("store-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("key");
        std::fs::write(&path, format!("{}\n", STANDARD.encode([9u8; 32]))).unwrap();
        // Written with the usual umask: readable by others, so refused.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = StoreKey::from_file(&path).unwrap_err().0;
        assert!(e.contains("mode 644") && e.contains("chmod 600"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(StoreKey::from_file(&path).unwrap().0, [9; 32]);
        std::fs::write(&path, "too short").unwrap();
        let e = StoreKey::from_file(&path).unwrap_err().0;
        assert!(
            e.contains(&path.display().to_string()) && e.contains("32"),
            "{e}"
        );
        assert!(
            !e.contains("too short"),
            "the key's text is never shown: {e}"
        );
        let e = StoreKey::from_file(&dir.join("missing")).unwrap_err().0;
        assert!(e.contains("cannot read"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn sealed_values_open_only_with_their_key_and_row() {
        let s = Sealer::new(Some(StoreKey([7; 32])));
        let v = Secret::new("refresh-token-value");
        let stored = s.seal(&fam("a"), "refresh_token", &v);
        assert!(!stored.contains("refresh-token-value"));
        assert_eq!(
            s.open(&fam("a"), "refresh_token", &stored, true, "t")
                .unwrap(),
            v
        );
        // Another row or field: refused.
        assert!(s
            .open(&fam("b"), "refresh_token", &stored, true, "t")
            .is_err());
        assert!(s
            .open(&fam("a"), "access_token", &stored, true, "t")
            .is_err());
        // Another key: refused with a clear message.
        let other = Sealer::new(Some(StoreKey([8; 32])));
        let e = other
            .open(&fam("a"), "refresh_token", &stored, true, "t")
            .unwrap_err();
        assert!(format!("{e}").contains("wrong store key"), "{e}");
        // No key: says which setting is missing.
        let none = Sealer::new(None);
        let e = none
            .open(&fam("a"), "refresh_token", &stored, true, "t")
            .unwrap_err();
        assert!(format!("{e}").contains("INTEGRATOR_STORE_KEY"), "{e}");
        // Plain values written before a key was set still read.
        assert_eq!(
            s.open(&fam("a"), "refresh_token", "plain", false, "t")
                .unwrap(),
            Secret::new("plain")
        );
    }
}
