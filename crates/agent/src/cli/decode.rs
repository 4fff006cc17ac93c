//! `perouter decode`: print every BGP message of a capture, a hex dump or a raw stream as JSON.

#![warn(missing_docs)]

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use bytes::Bytes;
use clap::Args;

use perouter_capture::decode::context::{AddPathFlag, FallbackContext};
use perouter_capture::decode::framing::{
    FramerOutput, FramingError, FramingErrorKind, MessageFramer,
};
use perouter_capture::decode::hex::{parse_hex_lines, Endpoints};
use perouter_capture::decode::record::{message_type_name, ErrorReport, Origin, Record};
use perouter_capture::decode::stream::{CaptureMessages, StreamItem};
use perouter_capture::decode::{DecodeOptions, MessageDecoder, SessionRef};
use perouter_capture::reassembly::{Connection, Direction};
use perouter_capture::CaptureReader;

const AFTER_HELP: &str = "\
INPUT
  By default FILE is a packet capture, pcap or pcapng (told apart by the magic number; both byte
  orders; micro- or nanosecond pcap; link types Ethernet (with VLAN tags), Linux cooked SLL and
  SLL2, raw IP, BSD loopback). Every TCP connection to or from --port is reassembled per direction
  (retransmissions dropped, out-of-order segments reordered, gaps reported) and cut into messages.

  --hex: one message per line, as hex, marker included; whitespace inside a line, blank lines and
  `#` comment lines are ignored. A comment naming `SRC->DST` just before a message (as in
  `# x.pcap frame 6 192.0.2.2:53777(gobgp)->192.0.2.1:179(frr) OPEN`) gives its direction.
  --raw: messages back to back in a binary file. FILE `-` reads standard input.

CODEC CONTEXT
  How UPDATEs are decoded depends on what the OPEN exchange negotiated (4-octet AS, ADD-PATH per
  family and direction, extended messages). Once both OPENs of a connection have been seen, the
  negotiated context is applied per direction, exactly as a session computes it. This is the
  default for captures and for hex files whose comments name directions and that contain OPENs
  in both directions. Before that (a capture started mid-session, input without directions, or
  --no-follow-open), the flags give the context: 4-octet AS unless --as2, ADD-PATH for each
  --add-path FAMILY[:DIR], extended messages with --extended-message.
  FAMILY: ipv4-unicast | ipv6-unicast | l2vpn-evpn (or afi-N-safi-N).
  DIR: both (default) | forward (messages sent by the connection's initiator) | reverse (sent by
  the responder). Input without directions counts as forward.

OUTPUT
  One JSON object per line per message: connection (initiator->responder), stream, direction,
  src, dst, frame (the frame carrying the message's last byte), timestamp (for captures) or line
  (for --hex) or offset (for --raw), type, length, context (negotiated|flags) and message (the
  decoded message). A message that cannot be decoded yields an object with \"error\" {kind, what,
  offset} and \"hex\" instead; the rest still decode. A summary goes to standard error.

EXIT STATUS
  0 when everything decoded (and, with --check-roundtrip, re-emitted identically); 1 when any
  message failed to decode or re-emit, or the input had gaps or framing errors; 2 on usage or
  I/O errors.

EXAMPLES
  perouter decode session.pcapng
  perouter decode --port 1179 --check-roundtrip lab.pcap
  perouter decode --hex messages.hex
  echo ffffffffffffffffffffffffffffffff001304 | perouter decode --hex -
  perouter decode --raw --as2 --add-path ipv4-unicast stream.bin
  perouter decode trace.pcap | jq -c 'select(.type == \"UPDATE\") | .message'";

/// Arguments of `perouter decode`.
#[derive(Debug, Clone, Args)]
#[command(
    about = "Decode BGP messages from a pcap/pcapng capture, hex lines or a raw stream, as JSON",
    after_help = AFTER_HELP
)]
pub struct DecodeArgs {
    /// The input file (`-` for standard input).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// FILE holds one hex-encoded message per line.
    #[arg(long, conflicts_with = "raw")]
    pub hex: bool,

    /// FILE holds raw messages back to back.
    #[arg(long)]
    pub raw: bool,

    /// The BGP TCP port: which segments of a capture to decode, and (in captures without a SYN
    /// and in hex comments) which side is the responder.
    #[arg(long, default_value_t = 179, value_name = "N")]
    pub port: u16,

    /// Fallback context: 2-octet AS numbers (no RFC 6793 capability).
    #[arg(long)]
    pub as2: bool,

    /// Fallback context: NLRI of FAMILY carry RFC 7911 path ids (repeatable), DIR = both|forward|reverse.
    #[arg(long = "add-path", value_name = "FAMILY[:DIR]")]
    pub add_path: Vec<AddPathFlag>,

    /// Fallback context: RFC 8654 extended messages (up to 65535 bytes).
    #[arg(long)]
    pub extended_message: bool,

    /// Do not learn the context from OPEN exchanges; use the flags for every message.
    #[arg(long)]
    pub no_follow_open: bool,

    /// Re-emit every message and fail if the bytes differ from the input.
    #[arg(long)]
    pub check_roundtrip: bool,
}

/// Counts for the summary line and the exit status.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Messages seen, by type name.
    pub by_type: BTreeMap<String, u64>,
    /// Records that are errors.
    pub errors: u64,
    /// Messages whose re-emitted bytes differ.
    pub roundtrip_failures: u64,
    /// Where each round-trip failure was.
    pub roundtrip_failed_at: Vec<String>,
}

impl Summary {
    fn messages(&self) -> u64 {
        self.by_type.values().sum()
    }
}

/// Writes records as JSON lines and keeps the summary.
struct Output<'w, W: Write> {
    out: &'w mut W,
    summary: Summary,
}

impl<W: Write> Output<'_, W> {
    fn emit(&mut self, record: &Record<'_>) -> io::Result<()> {
        if let Some(t) = &record.message_type {
            *self.summary.by_type.entry(t.clone()).or_default() += 1;
        }
        if record.error.is_some() {
            self.summary.errors += 1;
        }
        if record.roundtrip.as_ref().is_some_and(|r| r.is_failure()) {
            self.summary.roundtrip_failures += 1;
            let o = &record.origin;
            let at = match (o.frame, o.line, o.offset) {
                (Some(f), _, _) => {
                    format!("frame {f} ({})", o.connection.as_deref().unwrap_or("?"))
                }
                (_, Some(l), _) => format!("line {l}"),
                (_, _, Some(off)) => format!("offset {off}"),
                _ => "?".into(),
            };
            self.summary.roundtrip_failed_at.push(at);
        }
        serde_json::to_writer(&mut *self.out, record).map_err(io::Error::other)?;
        self.out.write_all(b"\n")
    }
}

/// Builds one message's record.
fn message_record<'m>(
    origin: Origin,
    bytes: &Bytes,
    decoded: &'m perouter_capture::decode::DecodedMessage,
) -> Record<'m> {
    let mut r = Record::new(origin);
    r.message_type = bytes.get(18).map(|t| message_type_name(*t));
    r.length = Some(bytes.len() - decoded.trailing);
    r.context = Some(decoded.context);
    match &decoded.result {
        Ok(m) => {
            r.message = Some(m);
            if decoded.trailing > 0 {
                r.error = Some(ErrorReport {
                    kind: "trailing",
                    what: format!("{} bytes after the message's end", decoded.trailing),
                    offset: Some((bytes.len() - decoded.trailing) as u64),
                });
            }
        }
        Err(e) => {
            r.error = Some(ErrorReport {
                kind: "parse",
                what: e.to_string(),
                offset: Some(e.offset as u64),
            });
            r.hex = Some(::hex::encode(bytes));
        }
    }
    r.roundtrip = decoded.roundtrip.clone();
    r
}

fn framing_record(mut origin: Origin, error: &FramingError) -> Record<'static> {
    origin.frame = origin.frame.or(Some(error.frame)).filter(|f| *f != 0);
    origin.offset = Some(error.offset);
    let mut r = Record::new(origin);
    let kind = match error.kind {
        FramingErrorKind::Gap { .. } => "gap",
        _ => "framing",
    };
    r.error = Some(ErrorReport {
        kind,
        what: error.kind.to_string(),
        offset: Some(error.offset),
    });
    r
}

fn capture_origin(
    connections: &HashMap<u64, Connection>,
    stream: u64,
    direction: Direction,
) -> Origin {
    let mut o = Origin {
        stream: Some(stream),
        direction: Some(direction),
        ..Default::default()
    };
    if let Some(c) = connections.get(&stream) {
        let (src, dst) = c.endpoints(direction);
        o.connection = Some(c.to_string());
        o.src = Some(src.to_string());
        o.dst = Some(dst.to_string());
    }
    o
}

fn decode_capture<W: Write>(
    data: &[u8],
    args: &DecodeArgs,
    decoder: &mut MessageDecoder,
    out: &mut Output<'_, W>,
) -> io::Result<()> {
    let reader = match CaptureReader::new(data) {
        Ok(r) => r,
        Err(e) => {
            let mut r = Record::new(Origin::default());
            r.error = Some(ErrorReport {
                kind: "capture",
                what: e.kind.to_string(),
                offset: Some(e.offset as u64),
            });
            return out.emit(&r);
        }
    };
    let mut connections = HashMap::new();
    let mut items = CaptureMessages::new(reader, args.port);
    for item in &mut items {
        match item {
            StreamItem::Connection {
                stream, connection, ..
            } => {
                connections.insert(stream, connection);
            }
            StreamItem::MidStream {
                stream,
                direction,
                frame,
            } => {
                let mut o = capture_origin(&connections, stream, direction);
                o.frame = Some(frame);
                let mut r = Record::new(o);
                r.notice = Some(
                    "the capture starts after this direction's stream did: resynchronising on the next BGP header; \
                     the fallback context applies until both OPENs are seen"
                        .into(),
                );
                out.emit(&r)?;
            }
            StreamItem::Message {
                stream,
                direction,
                message,
            } => {
                let mut o = capture_origin(&connections, stream, direction);
                o.frame = Some(message.frame);
                o.first_frame =
                    (message.first_frame != message.frame).then_some(message.first_frame);
                o.timestamp = Some(message.timestamp);
                let decoded = decoder.handle_message(Some((stream, direction)), &message.bytes);
                out.emit(&message_record(o, &message.bytes, &decoded))?;
            }
            StreamItem::Framing {
                stream,
                direction,
                error,
            } => {
                let o = capture_origin(&connections, stream, direction);
                out.emit(&framing_record(o, &error))?;
            }
            StreamItem::Packet { frame, error } => {
                let mut r = Record::new(Origin {
                    frame: Some(frame),
                    ..Default::default()
                });
                r.error = Some(ErrorReport {
                    kind: "packet",
                    what: error.to_string(),
                    offset: None,
                });
                out.emit(&r)?;
            }
            StreamItem::Capture(e) => {
                let mut r = Record::new(Origin::default());
                r.error = Some(ErrorReport {
                    kind: "capture",
                    what: e.kind.to_string(),
                    offset: Some(e.offset as u64),
                });
                out.emit(&r)?;
            }
        }
    }
    let stats = items.reassembly_stats();
    tracing::info!(
        frames = items.frames(),
        retransmitted_segments = stats.retransmitted_segments,
        gaps = stats.gaps,
        "capture read"
    );
    Ok(())
}

/// Connection ids and initiators for hex input whose comments name endpoints.
struct HexSessions {
    /// The BGP port: the side using it is taken as the responder, as in captures without a SYN.
    port: u16,
    ids: HashMap<(String, String), (u64, Endpoints)>,
}

fn port_of(endpoint: &str) -> Option<u16> {
    endpoint
        .parse::<std::net::SocketAddr>()
        .ok()
        .map(|a| a.port())
}

impl HexSessions {
    fn session(&mut self, e: &Endpoints) -> (u64, Direction, String) {
        let key = if e.src <= e.dst {
            (e.src.clone(), e.dst.clone())
        } else {
            (e.dst.clone(), e.src.clone())
        };
        let next = self.ids.len() as u64;
        let port = self.port;
        let (id, first) = self.ids.entry(key).or_insert_with(|| {
            // The initiator: the side not on the BGP port if that is clear, else the first
            // sender seen.
            let initiator =
                if port_of(&e.src) == Some(port) && port_of(&e.dst).is_some_and(|p| p != port) {
                    Endpoints {
                        src: e.dst.clone(),
                        dst: e.src.clone(),
                    }
                } else {
                    e.clone()
                };
            (next, initiator)
        });
        let direction = if first.src == e.src {
            Direction::Forward
        } else {
            Direction::Reverse
        };
        (*id, direction, format!("{}->{}", first.src, first.dst))
    }
}

fn decode_hex<W: Write>(
    text: &str,
    port: u16,
    decoder: &mut MessageDecoder,
    out: &mut Output<'_, W>,
) -> io::Result<()> {
    let mut sessions = HexSessions {
        port,
        ids: HashMap::new(),
    };
    for line in parse_hex_lines(text) {
        let mut origin = Origin {
            line: Some(line.line),
            ..Default::default()
        };
        let mut session: SessionRef = None;
        if let Some(e) = &line.endpoints {
            let (id, direction, connection) = sessions.session(e);
            session = Some((id, direction));
            origin.connection = Some(connection);
            origin.direction = Some(direction);
            origin.src = Some(e.src.clone());
            origin.dst = Some(e.dst.clone());
        }
        match line.bytes {
            Ok(bytes) => {
                let decoded = decoder.handle_message(session, &bytes);
                out.emit(&message_record(origin, &bytes, &decoded))?;
            }
            Err(e) => {
                let mut r = Record::new(origin);
                r.error = Some(ErrorReport {
                    kind: "hex",
                    what: e.to_string(),
                    offset: None,
                });
                out.emit(&r)?;
            }
        }
    }
    Ok(())
}

fn decode_raw<W: Write>(
    data: &[u8],
    decoder: &mut MessageDecoder,
    out: &mut Output<'_, W>,
) -> io::Result<()> {
    let mut framer = MessageFramer::new();
    framer.handle_data(0, data, 0, Default::default());
    framer.handle_end();
    while let Some(o) = framer.poll_output() {
        match o {
            FramerOutput::Message(m) => {
                let origin = Origin {
                    offset: Some(m.offset),
                    ..Default::default()
                };
                let decoded = decoder.handle_message(None, &m.bytes);
                out.emit(&message_record(origin, &m.bytes, &decoded))?;
            }
            FramerOutput::Error(e) => out.emit(&framing_record(Origin::default(), &e))?,
        }
    }
    Ok(())
}

fn read_input(path: &PathBuf) -> io::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut v = Vec::new();
        io::stdin().lock().read_to_end(&mut v)?;
        Ok(v)
    } else {
        std::fs::read(path)
    }
}

/// Decodes `data` as `args` say, writing JSON lines to `out`; returns the summary.
pub fn decode_to<W: Write>(args: &DecodeArgs, data: &[u8], out: &mut W) -> io::Result<Summary> {
    let options = DecodeOptions {
        fallback: FallbackContext {
            four_octet_as: !args.as2,
            extended_message: args.extended_message,
            add_path: args.add_path.clone(),
        },
        follow_open: !args.no_follow_open,
        check_roundtrip: args.check_roundtrip,
    };
    let mut decoder = MessageDecoder::new(options);
    let mut output = Output {
        out,
        summary: Summary::default(),
    };
    if args.hex {
        let text = String::from_utf8_lossy(data);
        decode_hex(&text, args.port, &mut decoder, &mut output)?;
    } else if args.raw {
        decode_raw(data, &mut decoder, &mut output)?;
    } else {
        decode_capture(data, args, &mut decoder, &mut output)?;
    }
    output.out.flush()?;
    Ok(output.summary)
}

/// Runs `perouter decode`.
pub fn run(args: &DecodeArgs) -> ExitCode {
    let data = match read_input(&args.file) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("perouter decode: cannot read {}: {e}", args.file.display());
            return ExitCode::from(2);
        }
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let summary = match decode_to(args, &data, &mut out) {
        Ok(s) => s,
        // The reader went away (`| head`): not an error of ours.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("perouter decode: writing output: {e}");
            return ExitCode::from(2);
        }
    };
    let types: Vec<String> = summary
        .by_type
        .iter()
        .map(|(t, n)| format!("{t} {n}"))
        .collect();
    eprintln!(
        "perouter decode: {} messages ({}); {} errors{}",
        summary.messages(),
        types.join(", "),
        summary.errors,
        if args.check_roundtrip {
            format!("; {} round-trip differences", summary.roundtrip_failures)
        } else {
            String::new()
        }
    );
    for at in &summary.roundtrip_failed_at {
        eprintln!("perouter decode: re-emitted bytes differ for the message at {at}");
    }
    if summary.errors > 0 || summary.roundtrip_failures > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
