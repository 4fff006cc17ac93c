//! A small reader for tshark's verbose text decode (`tshark -V -O bgp`), taking just the fields
//! the vector cross-check compares: prefixes (NLRI, withdrawn, MP_REACH/MP_UNREACH) with path
//! ids, AS paths, communities, large communities, next hops and EVPN route fields.
//!
//! tshark prints a tree by indentation (4 spaces per level); the text is turned into that tree
//! first, then the fields are read from known node titles.

use std::collections::BTreeMap;

/// A node of tshark's tree: its title line and its children.
#[derive(Debug, Default, Clone)]
pub struct Node {
    pub text: String,
    pub children: Vec<Node>,
}

impl Node {
    /// Children whose title starts with `prefix`.
    pub fn kids<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children
            .iter()
            .filter(move |c| c.text.starts_with(prefix))
    }

    /// The value after `key: ` of the first child titled so.
    pub fn value(&self, key: &str) -> Option<&str> {
        let p = format!("{key}: ");
        self.children
            .iter()
            .find_map(|c| c.text.strip_prefix(p.as_str()).map(str::trim))
    }
}

/// Builds the forest of a whole file (roots are the lines at indentation 0).
pub fn parse_tree(text: &str) -> Vec<Node> {
    // Stack of (indent, node); a line attaches to the nearest node with a smaller indent.
    let mut roots: Vec<Node> = Vec::new();
    let mut stack: Vec<(usize, Node)> = Vec::new();
    fn pop_into(stack: &mut Vec<(usize, Node)>, roots: &mut Vec<Node>) {
        let (_, node) = stack.pop().expect("non-empty stack");
        match stack.last_mut() {
            Some((_, parent)) => parent.children.push(node),
            None => roots.push(node),
        }
    }
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        while stack.last().is_some_and(|(i, _)| *i >= indent) {
            pop_into(&mut stack, &mut roots);
        }
        stack.push((
            indent,
            Node {
                text: line.trim().to_string(),
                children: Vec::new(),
            },
        ));
    }
    while !stack.is_empty() {
        pop_into(&mut stack, &mut roots);
    }
    roots
}

/// How tshark printed one EVPN label field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelReading {
    /// "VNI: N": the whole 24-bit field.
    Vni(u32),
    /// An MPLS reading ("MPLS Label 1: N", "MPLS Label Stack: N,"): the field's top 20 bits.
    Mpls(u32),
}

/// One EVPN NLRI as tshark printed it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EvpnFields {
    pub route_type: u8,
    /// The 8 RD octets, lowercase hex.
    pub rd: String,
    /// "aa:bb:..." ten ESI octets, when the route type has an ESI.
    pub esi: Option<String>,
    pub ethernet_tag: Option<u32>,
    pub mac: Option<String>,
    /// MAC/IP route IP, type-3/4 originator, type-5 prefix address.
    pub ip: Option<String>,
    pub prefix_len: Option<u8>,
    pub gateway: Option<String>,
    pub labels: Vec<LabelReading>,
}

/// The fields of one UPDATE.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateFields {
    /// Classic withdrawn routes: (prefix, path id).
    pub withdrawn: Vec<(String, Option<u32>)>,
    /// Classic NLRI.
    pub nlri: Vec<(String, Option<u32>)>,
    /// AS_PATH segments: (segment type code, ASNs).
    pub as_path: Option<Vec<(u8, Vec<u32>)>>,
    /// AS4_PATH segments.
    pub as4_path: Option<Vec<(u8, Vec<u32>)>>,
    pub communities: Vec<u32>,
    pub large_communities: Vec<(u32, u32, u32)>,
    /// NEXT_HOP attribute.
    pub next_hop: Option<String>,
    /// MP_REACH: (AFI, SAFI, next hop addresses, prefixes, EVPN routes).
    pub mp_reach: Option<MpFields>,
    /// MP_UNREACH.
    pub mp_unreach: Option<MpFields>,
}

/// MP_REACH_NLRI or MP_UNREACH_NLRI contents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MpFields {
    pub afi: u16,
    pub safi: u8,
    pub next_hops: Vec<String>,
    pub prefixes: Vec<(String, Option<u32>)>,
    pub evpn: Vec<EvpnFields>,
}

/// One BGP PDU: its type name as tshark titles it ("UPDATE", "OPEN", ...), length, and for
/// UPDATEs the fields.
#[derive(Debug, Clone)]
pub struct Pdu {
    pub kind: String,
    pub length: usize,
    pub update: Option<UpdateFields>,
}

/// The BGP PDUs of each frame, by frame number.
pub fn parse_file(text: &str) -> BTreeMap<u64, Vec<Pdu>> {
    let mut frames: BTreeMap<u64, Vec<Pdu>> = BTreeMap::new();
    let mut current = None;
    for root in parse_tree(text) {
        if let Some(rest) = root.text.strip_prefix("Frame ") {
            current = rest.split(':').next().and_then(|n| n.parse::<u64>().ok());
            continue;
        }
        let Some(kind) = root
            .text
            .strip_prefix("Border Gateway Protocol - ")
            .and_then(|k| k.strip_suffix(" Message"))
        else {
            continue;
        };
        let frame = current.expect("BGP PDU before any frame");
        let length = root
            .value("Length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let update = (kind == "UPDATE").then(|| update_fields(&root));
        frames.entry(frame).or_default().push(Pdu {
            kind: kind.to_string(),
            length,
            update,
        });
    }
    frames
}

fn leading_number<T: std::str::FromStr>(s: &str) -> Option<T> {
    let digits: String = s
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

/// "(2)" at the end of "AS_SET (1)" and friends.
fn code_in_parens(s: &str) -> Option<u32> {
    let open = s.rfind('(')?;
    let close = s[open..].find(')')? + open;
    s[open + 1..close].trim().parse().ok()
}

/// "203.0.113.0/24 PathId 2" → ("203.0.113.0/24", Some(2)).
fn prefix_line(s: &str) -> Option<(String, Option<u32>)> {
    let mut it = s.split_whitespace();
    let prefix = it.next()?;
    if !prefix.contains('/') {
        return None;
    }
    let path_id = match (it.next(), it.next()) {
        (Some("PathId"), Some(n)) => n.parse().ok(),
        _ => None,
    };
    Some((prefix.to_string(), path_id))
}

fn as_path(attr: &Node) -> Vec<(u8, Vec<u32>)> {
    attr.kids("AS Path segment")
        .map(|seg| {
            let kind = seg
                .value("Segment type")
                .and_then(code_in_parens)
                .unwrap_or(0) as u8;
            let asns = seg
                .children
                .iter()
                .filter_map(|c| {
                    let (k, v) = c.text.split_once(": ")?;
                    matches!(k, "AS4" | "AS2" | "AS")
                        .then(|| v.trim().parse().ok())
                        .flatten()
                })
                .collect();
            (kind, asns)
        })
        .collect()
}

fn evpn_fields(n: &Node) -> EvpnFields {
    let mut e = EvpnFields {
        route_type: n.value("Route Type").and_then(code_in_parens).unwrap_or(0) as u8,
        rd: n
            .value("Route Distinguisher")
            .and_then(|v| v.split_whitespace().next())
            .unwrap_or("")
            .to_string(),
        esi: n.value("ESI").map(str::to_string),
        ethernet_tag: n.value("Ethernet Tag ID").and_then(leading_number),
        mac: n
            .value("MAC Address")
            .and_then(|v| v.split_whitespace().next())
            .map(str::to_string),
        ..Default::default()
    };
    // The IP: MAC/IP routes say "IPv4 address"/"IPv6 address" or "IP Address"; type 3 and 4
    // name the originating router; type 5 has the prefix address.
    for key in [
        "IPv4 address",
        "IPv6 address",
        "Originating Router's IP Address",
        "IP Address",
    ] {
        if let Some(v) = n.value(key) {
            if v != "NOT INCLUDED" {
                e.ip = Some(v.to_string());
                break;
            }
        }
    }
    e.prefix_len = n.value("IP prefix length").and_then(leading_number);
    e.gateway = n
        .value("IPv4 Gateway address")
        .or(n.value("IPv6 Gateway address"))
        .map(str::to_string);
    for c in &n.children {
        let t = c.text.as_str();
        if let Some(v) = t.strip_prefix("VNI: ") {
            e.labels.extend(leading_number(v).map(LabelReading::Vni));
        } else if let Some(v) = t.strip_prefix("MPLS Label Stack: ") {
            e.labels.extend(leading_number(v).map(LabelReading::Mpls));
        } else if let Some((_, v)) = t.split_once("= MPLS Label ") {
            // "0000 0000 0000 0000 0110 .... = MPLS Label 1: 6"
            if let Some((_, n)) = v.split_once(": ") {
                e.labels.extend(leading_number(n).map(LabelReading::Mpls));
            }
        }
    }
    e
}

fn mp_fields(attr: &Node, reach: bool) -> MpFields {
    let mut m = MpFields {
        afi: attr
            .value("Address family identifier (AFI)")
            .and_then(code_in_parens)
            .unwrap_or(0) as u16,
        safi: attr
            .value("Subsequent address family identifier (SAFI)")
            .and_then(code_in_parens)
            .unwrap_or(0) as u8,
        ..Default::default()
    };
    if let Some(nh) = attr.kids("Next hop").next() {
        for c in &nh.children {
            for key in ["IPv4 Address: ", "IPv6 Address: ", "Link-local Address: "] {
                if let Some(v) = c.text.strip_prefix(key) {
                    m.next_hops.push(v.trim().to_string());
                }
            }
        }
    }
    let section = if reach {
        "Network Layer Reachability Information"
    } else {
        "Withdrawn Routes"
    };
    for sec in attr.kids(section) {
        for c in &sec.children {
            if c.text.starts_with("EVPN NLRI") {
                m.evpn.push(evpn_fields(c));
            } else if let Some(p) = prefix_line(&c.text) {
                m.prefixes.push(p);
            }
        }
    }
    m
}

fn update_fields(pdu: &Node) -> UpdateFields {
    let mut u = UpdateFields::default();
    for sec in pdu.kids("Withdrawn Routes") {
        u.withdrawn
            .extend(sec.children.iter().filter_map(|c| prefix_line(&c.text)));
    }
    for sec in pdu.kids("Network Layer Reachability Information") {
        u.nlri
            .extend(sec.children.iter().filter_map(|c| prefix_line(&c.text)));
    }
    for attrs in pdu.kids("Path attributes") {
        for attr in attrs.kids("Path Attribute - ") {
            let name = attr.text["Path Attribute - ".len()..]
                .split(':')
                .next()
                .unwrap_or("")
                .trim();
            match name {
                "AS_PATH" => u.as_path = Some(as_path(attr)),
                "AS4_PATH" => u.as4_path = Some(as_path(attr)),
                "NEXT_HOP" => u.next_hop = attr.value("Next hop").map(str::to_string),
                "COMMUNITIES" => {
                    for list in attr.kids("Communities") {
                        for c in &list.children {
                            if let Some(v) = c.text.strip_prefix("Community: ") {
                                let (a, b) = v.trim().split_once(':').expect("community A:B");
                                let a: u32 = a.parse().expect("community AS");
                                let b: u32 = b.parse().expect("community value");
                                u.communities.push(a << 16 | b);
                            } else if c.text.starts_with("Community Well-known: ") {
                                let hex = c
                                    .text
                                    .rsplit("(0x")
                                    .next()
                                    .and_then(|h| h.strip_suffix(')'));
                                u.communities.push(
                                    u32::from_str_radix(hex.expect("well-known hex"), 16)
                                        .expect("hex"),
                                );
                            }
                        }
                    }
                }
                "LARGE_COMMUNITY" => {
                    for c in attr.kids("Large communities: ") {
                        let v: Vec<u32> = c.text["Large communities: ".len()..]
                            .trim()
                            .split(':')
                            .map(|x| x.parse().expect("large community part"))
                            .collect();
                        u.large_communities.push((v[0], v[1], v[2]));
                    }
                }
                "MP_REACH_NLRI" => u.mp_reach = Some(mp_fields(attr, true)),
                "MP_UNREACH_NLRI" => u.mp_unreach = Some(mp_fields(attr, false)),
                _ => {}
            }
        }
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
Frame 16: 2177 bytes on wire
Ethernet II, Src: a
Border Gateway Protocol - UPDATE Message
    Marker: ffffffffffffffffffffffffffffffff
    Length: 131
    Type: UPDATE Message (2)
    Path attributes
        Path Attribute - AS_PATH: 4200000001 {65001,65002}
            Type Code: AS_PATH (2)
            AS Path segment: 4200000001
                Segment type: AS_SEQUENCE (2)
                AS4: 4200000001
            AS Path segment: {65001,65002}
                Segment type: AS_SET (1)
                AS4: 65001
                AS4: 65002
        Path Attribute - COMMUNITIES: Reserved 64512:100
            Communities: Reserved 64512:100
                Community Well-known: Unknown (0x00000000)
                Community: 64512:100 
        Path Attribute - MP_REACH_NLRI
            Address family identifier (AFI): Layer-2 VPN (25)
            Subsequent address family identifier (SAFI): EVPN (70)
            Next hop: 198.51.100.1
                IPv4 Address: 198.51.100.1
            Network Layer Reachability Information (NLRI)
                EVPN NLRI: IP Prefix route
                    Route Type: IP Prefix route (5)
                    Route Distinguisher: 0001c00002010001 (192.0.2.1:1)
                    ESI: 00:00:00:00:00:00:00:00:00:00
                    Ethernet Tag ID: 0
                    IP prefix length: 24
                    IPv4 address: 203.0.113.0
                    IPv4 Gateway address: 0.0.0.0
                    MPLS Label Stack: 62, (BOGUS: Bottom of Stack NOT set!)
                        MPLS Label: 100062,
    Network Layer Reachability Information (NLRI)
        203.0.113.0/24 PathId 2 
            NLRI path id: 2
Border Gateway Protocol - KEEPALIVE Message
    Length: 19
";

    #[test]
    fn reads_the_fields() {
        let frames = parse_file(SAMPLE);
        let pdus = &frames[&16];
        assert_eq!(pdus.len(), 2);
        assert_eq!((pdus[1].kind.as_str(), pdus[1].length), ("KEEPALIVE", 19));
        let u = pdus[0].update.as_ref().unwrap();
        assert_eq!(
            u.as_path,
            Some(vec![(2, vec![4200000001]), (1, vec![65001, 65002])])
        );
        assert_eq!(u.communities, vec![0, 64512 << 16 | 100]);
        assert_eq!(u.nlri, vec![("203.0.113.0/24".to_string(), Some(2))]);
        let mp = u.mp_reach.as_ref().unwrap();
        assert_eq!((mp.afi, mp.safi), (25, 70));
        assert_eq!(mp.next_hops, vec!["198.51.100.1"]);
        let e = &mp.evpn[0];
        assert_eq!(e.route_type, 5);
        assert_eq!(e.rd, "0001c00002010001");
        assert_eq!(e.ip.as_deref(), Some("203.0.113.0"));
        assert_eq!(e.prefix_len, Some(24));
        assert_eq!(e.labels, vec![LabelReading::Mpls(62)]);
    }
}
