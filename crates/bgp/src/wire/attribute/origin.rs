//! ORIGIN (type 1, RFC 4271 §4.3, §5.1.1).

use std::fmt;

use serde::Serialize;

/// Where the route came from (RFC 4271 §5.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Origin {
    /// 0: interior to the originating AS.
    Igp,
    /// 1: learned via EGP.
    Egp,
    /// 2: learned some other way.
    Incomplete,
}

impl Origin {
    /// Decodes the value; `None` for undefined values (RFC 7606 §7.1: treat-as-withdraw).
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(Origin::Igp),
            1 => Some(Origin::Egp),
            2 => Some(Origin::Incomplete),
            _ => None,
        }
    }

    /// Encodes the value.
    pub fn to_u8(self) -> u8 {
        self as u8
    }

    pub(crate) fn parse(value: &[u8]) -> Result<Self, String> {
        match value {
            [v] => Origin::from_u8(*v).ok_or_else(|| format!("undefined ORIGIN value {v}")),
            _ => Err(format!("ORIGIN length {} (expected 1)", value.len())),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Origin::Igp => "IGP",
            Origin::Egp => "EGP",
            Origin::Incomplete => "INCOMPLETE",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_values_and_rejects_others() {
        assert_eq!(Origin::parse(&[0]), Ok(Origin::Igp));
        assert_eq!(Origin::parse(&[2]), Ok(Origin::Incomplete));
        assert!(Origin::parse(&[3]).unwrap_err().contains("undefined"));
        assert!(Origin::parse(&[0, 0]).unwrap_err().contains("length 2"));
        assert!(Origin::Egp < Origin::Incomplete);
    }
}
