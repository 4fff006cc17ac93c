//! OPEN messages (RFC 4271 §4.2) with optional parameters (RFC 5492) and the
//! extended optional parameters length (RFC 9072).

use std::net::Ipv4Addr;

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;

use super::capability::{AddPathMode, Capability, GracefulRestart};
use super::cursor::Cursor;
use super::error::{EmitError, WireError, WireErrorKind};
use super::family::AfiSafi;
use super::header::MessageType;
use super::hex::serialize_hex;
use super::notification::{ErrorCode, Notification, OpenSubcode};

/// AS_TRANS, the 2-octet stand-in for a 4-octet AS (RFC 6793 §9).
pub const AS_TRANS: u16 = 23456;

/// Optional parameter type for capabilities (RFC 5492 §4).
pub const PARAM_CAPABILITIES: u8 = 2;

/// One optional parameter of an OPEN (RFC 4271 §4.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OptionalParameter {
    /// Type 2: one or more capabilities (RFC 5492 §4). The grouping is kept:
    /// some speakers put each capability in its own parameter, some group them.
    Capabilities {
        /// The capabilities, in order.
        capabilities: Vec<Capability>,
    },
    /// Any other parameter type (type 1, authentication, is deprecated).
    Unknown {
        /// Parameter type.
        param_type: u8,
        /// Raw value.
        #[serde(serialize_with = "serialize_hex")]
        value: Bytes,
    },
}

/// An OPEN message (RFC 4271 §4.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Open {
    /// Protocol version; always 4 when parsed.
    pub version: u8,
    /// My Autonomous System: the AS, or AS_TRANS for a 4-octet AS (RFC 6793 §4.1).
    pub my_as: u16,
    /// Proposed hold time in seconds.
    pub hold_time: u16,
    /// BGP identifier.
    pub bgp_id: Ipv4Addr,
    /// Optional parameters in received order.
    pub params: Vec<OptionalParameter>,
    /// Whether the parameters use the RFC 9072 extended encoding (2-byte lengths).
    /// Emission uses it when set, or when the parameters do not fit the
    /// 1-byte encoding.
    pub extended_params: bool,
}

impl Open {
    /// An OPEN for `asn` with the given capabilities in one parameter;
    /// `my_as` is AS_TRANS when `asn` needs 4 octets (RFC 6793 §4.1).
    pub fn new(asn: u32, hold_time: u16, bgp_id: Ipv4Addr, capabilities: Vec<Capability>) -> Self {
        Open {
            version: 4,
            my_as: u16::try_from(asn).unwrap_or(AS_TRANS),
            hold_time,
            bgp_id,
            params: vec![OptionalParameter::Capabilities { capabilities }],
            extended_params: false,
        }
    }

    /// All capabilities across all capability parameters, in order.
    pub fn capabilities(&self) -> impl Iterator<Item = &Capability> {
        self.params.iter().flat_map(|p| match p {
            OptionalParameter::Capabilities { capabilities } => capabilities.as_slice(),
            OptionalParameter::Unknown { .. } => &[],
        })
    }

    /// The 4-octet AS from the capability (RFC 6793 §3), if advertised.
    pub fn four_octet_as(&self) -> Option<u32> {
        self.capabilities().find_map(|c| match c {
            Capability::FourOctetAs(a) => Some(*a),
            _ => None,
        })
    }

    /// The speaker's AS: the 4-octet AS capability if present, else `my_as`.
    pub fn asn(&self) -> u32 {
        self.four_octet_as().unwrap_or(u32::from(self.my_as))
    }

    /// Families advertised with the multiprotocol capability; IPv4 unicast
    /// when none is advertised (RFC 4760 §8, RFC 4271 default).
    pub fn families(&self) -> Vec<AfiSafi> {
        let mut v: Vec<AfiSafi> = Vec::new();
        for c in self.capabilities() {
            if let Capability::MultiProtocol(f) = c {
                if !v.contains(f) {
                    v.push(*f);
                }
            }
        }
        if v.is_empty() {
            v.push(AfiSafi::IPV4_UNICAST);
        }
        v
    }

    /// ADD-PATH modes per family (RFC 7911 §4), last mention wins.
    pub fn add_path(&self) -> Vec<(AfiSafi, AddPathMode)> {
        let mut v: Vec<(AfiSafi, AddPathMode)> = Vec::new();
        for c in self.capabilities() {
            if let Capability::AddPath(fams) = c {
                for (f, m) in fams {
                    match v.iter_mut().find(|(g, _)| g == f) {
                        Some(e) => e.1 = *m,
                        None => v.push((*f, *m)),
                    }
                }
            }
        }
        v
    }

    /// True when the capability with `code` is advertised.
    pub fn has_capability(&self, code: u8) -> bool {
        self.capabilities().any(|c| c.code() == code)
    }

    /// The graceful restart capability, if advertised.
    pub fn graceful_restart(&self) -> Option<&GracefulRestart> {
        self.capabilities().find_map(|c| match c {
            Capability::GracefulRestart(g) => Some(g),
            _ => None,
        })
    }

    /// Semantic checks RFC 4271 §6.2 and RFC 6286 require of a received OPEN
    /// beyond its syntax: hold time 0 or at least 3; BGP identifier not 0.
    /// Checks needing configuration (peer AS) belong to the session.
    pub fn validate(&self) -> Result<(), Notification> {
        if self.hold_time == 1 || self.hold_time == 2 {
            return Err(Notification::new(
                ErrorCode::Open(OpenSubcode::UnacceptableHoldTime),
                Bytes::new(),
            ));
        }
        if self.bgp_id.is_unspecified() {
            return Err(Notification::new(
                ErrorCode::Open(OpenSubcode::BadBgpIdentifier),
                Bytes::new(),
            ));
        }
        Ok(())
    }

    /// Parses an OPEN body; `base` is the body's offset in the message.
    pub(crate) fn parse_body(body: Bytes, base: usize) -> Result<Open, WireError> {
        let t = |s| WireError::truncated(MessageType::Open, s, "fixed fields");
        let mut c = Cursor::new(body, base);
        let version_at = c.offset();
        let version = c.u8().map_err(t)?;
        if version != 4 {
            return Err(WireError {
                offset: version_at,
                kind: WireErrorKind::UnsupportedVersion { version },
            });
        }
        let my_as = c.u16().map_err(t)?;
        let hold_time = c.u16().map_err(t)?;
        let bgp_id = Ipv4Addr::from(c.array::<4>().map_err(t)?);
        let len_at = c.offset();
        let opt_len = c.u8().map_err(t)?;
        let malformed = |offset: usize, reason: String| WireError {
            offset,
            kind: WireErrorKind::MalformedOptionalParameters { reason },
        };
        // RFC 9072 §2: a Non-Ext OP Len of 255 followed by a Non-Ext OP Type
        // of 255 announces the extended encoding.
        let extended = opt_len == 255 && c.remaining() >= 1 && {
            let mut peek = c.clone();
            peek.u8().ok() == Some(255)
        };
        let (mut params_c, extended_params) = if extended {
            c.u8().map_err(t)?;
            let len = c.u16().map_err(t)?;
            let p = c.sub(usize::from(len)).map_err(|s| {
                malformed(
                    s.offset,
                    format!(
                        "extended optional parameters length {len} exceeds the {} bytes left",
                        s.available
                    ),
                )
            })?;
            (p, true)
        } else {
            let p = c.sub(usize::from(opt_len)).map_err(|s| {
                malformed(
                    len_at,
                    format!(
                        "optional parameters length {opt_len} exceeds the {} bytes left",
                        s.available
                    ),
                )
            })?;
            (p, false)
        };
        if !c.is_empty() {
            return Err(malformed(
                c.offset(),
                format!(
                    "{} bytes after the optional parameters (length field says {})",
                    c.remaining(),
                    opt_len
                ),
            ));
        }
        let mut params = Vec::new();
        while !params_c.is_empty() {
            let at = params_c.offset();
            let hdr = |_| malformed(at, "optional parameter header truncated".into());
            let param_type = params_c.u8().map_err(hdr)?;
            let len = if extended_params {
                usize::from(params_c.u16().map_err(hdr)?)
            } else {
                usize::from(params_c.u8().map_err(hdr)?)
            };
            let mut value = params_c.sub(len).map_err(|s| {
                malformed(
                    at,
                    format!(
                        "parameter type {param_type} length {len} exceeds the {} bytes left",
                        s.available
                    ),
                )
            })?;
            if param_type == PARAM_CAPABILITIES {
                let mut capabilities = Vec::new();
                while !value.is_empty() {
                    let cat = value.offset();
                    let code = value.u8().map_err(hdr)?;
                    let clen = value.u8().map_err(|_| {
                        malformed(cat, format!("capability {code} has no length byte"))
                    })?;
                    let v = value.take(usize::from(clen)).map_err(|s| {
                        malformed(
                            cat,
                            format!(
                                "capability {code} length {clen} exceeds the {} bytes left in its parameter",
                                s.available
                            ),
                        )
                    })?;
                    capabilities.push(Capability::from_value(code, v));
                }
                params.push(OptionalParameter::Capabilities { capabilities });
            } else {
                params.push(OptionalParameter::Unknown {
                    param_type,
                    value: value.rest(),
                });
            }
        }
        Ok(Open {
            version,
            my_as,
            hold_time,
            bgp_id,
            params,
            extended_params,
        })
    }

    /// Writes the OPEN body.
    pub(crate) fn emit_body(&self, out: &mut BytesMut) -> Result<(), EmitError> {
        out.put_u8(self.version);
        out.put_u16(self.my_as);
        out.put_u16(self.hold_time);
        out.put_slice(&self.bgp_id.octets());
        // Encode parameters with 1-byte lengths first; fall back to RFC 9072.
        let mut params = BytesMut::new();
        let mut fits = !self.extended_params;
        if fits {
            for p in &self.params {
                if !emit_param(p, false, &mut params)? {
                    fits = false;
                    break;
                }
            }
            // A 1-byte length of 255 followed by parameter type 255 would
            // read as the RFC 9072 encoding (RFC 9072 §2).
            fits = fits && (params.len() < 255 || (params.len() == 255 && params[0] != 255));
        }
        if fits {
            out.put_u8(params.len() as u8);
            out.put_slice(&params);
        } else {
            params.clear();
            for p in &self.params {
                emit_param(p, true, &mut params)?;
            }
            let len = u16::try_from(params.len()).map_err(|_| EmitError::FieldTooLong {
                field: "optional parameters",
                length: params.len(),
                max: usize::from(u16::MAX),
            })?;
            out.put_u8(255);
            out.put_u8(255);
            out.put_u16(len);
            out.put_slice(&params);
        }
        Ok(())
    }
}

/// Writes one parameter; returns false when `extended` is off and the value
/// does not fit a 1-byte length.
fn emit_param(
    p: &OptionalParameter,
    extended: bool,
    out: &mut BytesMut,
) -> Result<bool, EmitError> {
    let mut value = BytesMut::new();
    let ty = match p {
        OptionalParameter::Capabilities { capabilities } => {
            for c in capabilities {
                c.emit(&mut value)?;
            }
            PARAM_CAPABILITIES
        }
        OptionalParameter::Unknown {
            param_type,
            value: v,
        } => {
            value.put_slice(v);
            *param_type
        }
    };
    out.put_u8(ty);
    if extended {
        let len = u16::try_from(value.len()).map_err(|_| EmitError::FieldTooLong {
            field: "optional parameter",
            length: value.len(),
            max: usize::from(u16::MAX),
        })?;
        out.put_u16(len);
    } else {
        match u8::try_from(value.len()) {
            Ok(l) => out.put_u8(l),
            Err(_) => return Ok(false),
        }
    }
    out.put_slice(&value);
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(hex: &str) -> Bytes {
        Bytes::from(
            (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect::<Vec<u8>>(),
        )
    }

    #[test]
    fn built_open_round_trips_with_as_trans() {
        let open = Open::new(
            4200000001,
            90,
            Ipv4Addr::new(192, 0, 2, 1),
            vec![
                Capability::MultiProtocol(AfiSafi::IPV4_UNICAST),
                Capability::FourOctetAs(4200000001),
            ],
        );
        let mut out = BytesMut::new();
        open.emit_body(&mut out).unwrap();
        let back = Open::parse_body(out.clone().freeze(), 19).unwrap();
        assert_eq!(back, open);
        assert_eq!(back.my_as, AS_TRANS);
        assert_eq!(back.asn(), 4200000001);
        assert_eq!(back.families(), vec![AfiSafi::IPV4_UNICAST]);
    }

    #[test]
    fn rfc9072_extended_parameters_round_trip() {
        let caps: Vec<Capability> = (0..70)
            .map(|i| Capability::MultiProtocol(AfiSafi::from_wire(1000 + i, 1)))
            .collect();
        let open = Open::new(65001, 90, Ipv4Addr::new(10, 0, 0, 1), caps);
        let mut out = BytesMut::new();
        open.emit_body(&mut out).unwrap();
        assert_eq!(&out[9..11], &[255, 255]);
        let back = Open::parse_body(out.freeze(), 19).unwrap();
        assert!(back.extended_params);
        assert_eq!(back.params, open.params);
        // And re-emits identically.
        let mut again = BytesMut::new();
        back.emit_body(&mut again).unwrap();
        let back2 = Open::parse_body(again.freeze(), 19).unwrap();
        assert_eq!(back2, back);
    }

    #[test]
    fn parameters_of_exactly_255_bytes_keep_the_one_byte_encoding() {
        // One capability parameter holding a 251-byte unknown capability: 2 + 2 + 251 = 255.
        let cap = Capability::Unknown {
            code: 200,
            value: Bytes::from(vec![7u8; 251]),
        };
        let open = Open::new(65001, 90, Ipv4Addr::new(10, 0, 0, 1), vec![cap]);
        let mut out = BytesMut::new();
        open.emit_body(&mut out).unwrap();
        assert_eq!(out[9], 255);
        assert_eq!(out[10], PARAM_CAPABILITIES);
        let back = Open::parse_body(out.freeze(), 19).unwrap();
        assert!(!back.extended_params);
        assert_eq!(back, open);
    }

    #[test]
    fn errors_say_what_and_where() {
        // version 3
        let e = Open::parse_body(body("03fde8005a0a00000100"), 19).unwrap_err();
        assert_eq!(e.offset, 19);
        assert_eq!(e.kind, WireErrorKind::UnsupportedVersion { version: 3 });
        // opt len 4 but only 2 bytes
        let e = Open::parse_body(body("04fde8005a0a000001040200"), 19).unwrap_err();
        assert_eq!(e.offset, 28);
        assert!(matches!(
            e.kind,
            WireErrorKind::MalformedOptionalParameters { .. }
        ));
        assert_eq!(
            e.notification().unwrap().error(),
            ErrorCode::Open(OpenSubcode::Unspecific)
        );
        // capability overruns its parameter
        let e = Open::parse_body(body("04fde8005a0a00000104020241"), 19).unwrap_err();
        assert!(
            matches!(e.kind, WireErrorKind::MalformedOptionalParameters { .. }),
            "{e}"
        );
        // capability length overruns
        let e = Open::parse_body(body("04fde8005a0a0000010402024104"), 19).unwrap_err();
        assert_eq!(e.offset, 31);
        // truncated fixed part
        let e = Open::parse_body(body("04fde8"), 19).unwrap_err();
        assert!(matches!(e.kind, WireErrorKind::Truncated { .. }));
    }

    #[test]
    fn validate_checks_hold_time_and_identifier() {
        let mut o = Open::new(65001, 2, Ipv4Addr::new(10, 0, 0, 1), vec![]);
        assert_eq!(
            o.validate().unwrap_err().error(),
            ErrorCode::Open(OpenSubcode::UnacceptableHoldTime)
        );
        o.hold_time = 0;
        assert!(o.validate().is_ok());
        o.bgp_id = Ipv4Addr::UNSPECIFIED;
        assert_eq!(
            o.validate().unwrap_err().error(),
            ErrorCode::Open(OpenSubcode::BadBgpIdentifier)
        );
    }

    #[test]
    fn unknown_parameters_are_kept() {
        let b = body("04fde8005a0a00000105010300aabb");
        let o = Open::parse_body(b.clone(), 19).unwrap();
        assert_eq!(
            o.params,
            vec![OptionalParameter::Unknown {
                param_type: 1,
                value: Bytes::from_static(&[0x00, 0xaa, 0xbb])
            }]
        );
        let mut out = BytesMut::new();
        o.emit_body(&mut out).unwrap();
        assert_eq!(out.freeze(), b);
    }
}
