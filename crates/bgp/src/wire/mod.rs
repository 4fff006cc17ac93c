//! The BGP-4 wire codec: every message, capability and path attribute
//! perouter exchanges with FRR, GoBGP, BIRD and ExaBGP, parsed from `Bytes`
//! (zero-copy for raw payloads) and emitted into `BytesMut`, byte for byte.
//!
//! Overview:
//! - [`header`]: the 19-byte header, message types, size limits, framing
//!   ([`frame_length`]).
//! - [`message`]: [`Message::parse`] / [`Message::emit`] for a whole message.
//! - [`context`]: [`WireContext`], what the OPEN exchange negotiated for one
//!   direction (4-octet AS, ADD-PATH per family, extended messages, iBGP).
//! - [`open`], [`capability`]: OPEN and its capabilities (RFC 5492, 9072).
//! - [`update`], [`attribute`], [`prefix`]: UPDATE, path attributes with
//!   RFC 7606 error handling, NLRI blocks that iterate without allocating.
//! - [`notification`], [`route_refresh`]: NOTIFICATION with typed codes and
//!   the RFC 9003 shutdown communication; ROUTE-REFRESH with BoRR/EoRR.
//! - [`error`]: [`WireError`] (offset + what), the NOTIFICATION each error
//!   requires, and the RFC 7606 [`ErrorAction`]s.
//!
//! Parsing never panics on any input: every read is bounds-checked and
//! every length is checked before use.

pub mod attribute;
pub mod capability;
pub mod context;
mod cursor;
pub mod error;
pub mod error_handling;
pub mod family;
pub mod header;
mod hex;
pub mod message;
pub mod message_type;
pub mod notification;
pub mod open;
pub mod prefix;
pub mod route_refresh;
pub mod update;

pub use attribute::{
    reconstruct_as4, Aggregator, AigpTlv, AsPath, AsSegment, AsSegmentKind, AttributeFlags,
    AttributeValue, Community, ExtendedCommunity, Ipv6ExtendedCommunity, LargeCommunity, MpReach,
    MpUnreach, NextHop, Origin, PathAttribute, PathAttributes,
};
pub use capability::{AddPathMode, BgpRole, Capability, GracefulRestart, LlgrFamily};
pub use context::{AddPathFamilies, WireContext};
pub use error::{EmitError, NlriField, WireError, WireErrorKind};
pub use error_handling::{AttributeError, ErrorAction};
pub use family::{display_list, Afi, AfiSafi, Safi};
pub use header::{
    frame_length, Header, MessageType, HEADER_LEN, MARKER, MAX_EXTENDED_MESSAGE_LEN,
    MAX_MESSAGE_LEN,
};
pub use message::Message;
pub use notification::{
    CeaseSubcode, ErrorCode, FsmSubcode, MessageHeaderSubcode, Notification, OpenSubcode,
    RouteRefreshSubcode, UpdateSubcode,
};
pub use open::{Open, OptionalParameter, AS_TRANS};
pub use prefix::{EvpnNlri, Nlri, NlriBlock};
pub use route_refresh::{RouteRefresh, RouteRefreshSubtype};
pub use update::{NlriList, Update};
