//! Local input rules, checked before any request leaves the component.

use crate::error::ConnectorError;

/// X ids: `^[0-9]{1,19}$` (the spec's pattern). Also what keeps a path from
/// being smuggled into `DELETE /2/tweets/{id}`.
pub fn id(parameter: &str, value: &str) -> Result<(), ConnectorError> {
    if (1..=19).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(ConnectorError::invalid(
            parameter,
            "must be a numeric id of 1 to 19 digits (^[0-9]{1,19}$)",
        ))
    }
}

pub fn ids(parameter: &str, values: &[String]) -> Result<(), ConnectorError> {
    for (i, v) in values.iter().enumerate() {
        id(&format!("{parameter}[{i}]"), v)?;
    }
    Ok(())
}

pub fn one_of(parameter: &str, value: &str, allowed: &[&str]) -> Result<(), ConnectorError> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(ConnectorError::invalid(
            parameter,
            format!("`{value}` is not one of: {}", allowed.join(", ")),
        ))
    }
}

/// A WSO2 comma list (`"id,name, username"`) as its items; blanks dropped.
pub fn comma_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Each value allowed and none repeated (the spec's `uniqueItems`).
pub fn field_list(
    parameter: &str,
    values: &[String],
    allowed: &[&str],
) -> Result<(), ConnectorError> {
    for (i, v) in values.iter().enumerate() {
        one_of(parameter, v, allowed)?;
        if values[..i].contains(v) {
            return Err(ConnectorError::invalid(
                parameter,
                format!("`{v}` is listed twice"),
            ));
        }
    }
    Ok(())
}

pub fn boolean(parameter: &str, value: &str) -> Result<bool, ConnectorError> {
    match value.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ConnectorError::invalid(parameter, "must be true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_1_to_19_digits() {
        assert!(id("id", "1").is_ok());
        assert!(id("id", "1234567890123456789").is_ok());
        for bad in [
            "",
            "12345678901234567890",
            "12a",
            "1/../../users",
            "-1",
            " 1",
            "１",
        ] {
            let e = id("id", bad).unwrap_err();
            assert!(e.to_string().contains("`id`"), "{e}");
        }
    }

    #[test]
    fn field_lists_reject_unknown_and_repeated() {
        let allowed = ["id", "name"];
        assert!(field_list("user_fields", &comma_list("id, name"), &allowed).is_ok());
        assert!(field_list("user_fields", &comma_list("id,bogus"), &allowed)
            .unwrap_err()
            .to_string()
            .contains("bogus"));
        assert!(field_list("user_fields", &comma_list("id,id"), &allowed).is_err());
    }
}
