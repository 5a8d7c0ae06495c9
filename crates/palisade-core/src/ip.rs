//! CIDR blocks and address ranges for IPv4 and IPv6, in one numeric space per family.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// The family of an address.
    pub fn of(ip: IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// The address length in bits (32 or 128).
    pub fn bits(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }
}

/// An address as (family, number).
pub fn ip_to_num(ip: IpAddr) -> (Family, u128) {
    match ip {
        IpAddr::V4(a) => (Family::V4, u32::from(a) as u128),
        IpAddr::V6(a) => (Family::V6, u128::from(a)),
    }
}

/// The address of `family` whose bits are `n`.
pub fn num_to_ip(family: Family, n: u128) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::from(n as u32)),
        Family::V6 => IpAddr::V6(Ipv6Addr::from(n)),
    }
}

/// A CIDR block. Host bits given in the text are cleared, as Go's `net.ParseCIDR` does
/// (`10.20.1.3/17` is the block `10.20.0.0/17`); `text` keeps what the user wrote.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    /// IPv4 or IPv6.
    pub family: Family,
    /// The network address as a number, host bits zero.
    pub network: u128,
    /// The prefix length.
    pub prefix: u8,
}

impl Cidr {
    /// The block `ip/prefix`; an error when the prefix is too long or host bits are set.
    pub fn new(ip: IpAddr, prefix: u8) -> Result<Cidr, String> {
        let (family, n) = ip_to_num(ip);
        if prefix > family.bits() {
            return Err(format!(
                "prefix length {prefix} is longer than {} bits",
                family.bits()
            ));
        }
        let cidr = Cidr {
            family,
            network: 0,
            prefix,
        };
        Ok(Cidr {
            network: n & cidr.mask(),
            ..cidr
        })
    }

    /// A single address as a block.
    /// Whether the block is a single address (`/32`, `/128`).
    pub fn is_host(&self) -> bool {
        self.prefix == self.family.bits()
    }

    /// The block holding only `ip` (`/32` or `/128`).
    pub fn host(ip: IpAddr) -> Cidr {
        let f = Family::of(ip);
        Cidr::new(ip, f.bits()).expect("full-length prefix is valid")
    }

    fn mask(&self) -> u128 {
        let bits = self.family.bits() as u32;
        let host_bits = bits - self.prefix as u32;
        let full = if bits == 128 {
            u128::MAX
        } else {
            (1u128 << bits) - 1
        };
        if host_bits == 128 {
            0
        } else {
            full & !((1u128 << host_bits) - 1)
        }
    }

    /// First and last address, inclusive.
    pub fn range(&self) -> (u128, u128) {
        let bits = self.family.bits() as u32;
        let host_bits = bits - self.prefix as u32;
        let span = if host_bits == 128 {
            u128::MAX
        } else {
            (1u128 << host_bits) - 1
        };
        (self.network, self.network | span)
    }

    /// Whether `ip` is inside the block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (f, n) = ip_to_num(ip);
        let (lo, hi) = self.range();
        f == self.family && lo <= n && n <= hi
    }

    /// Whether `other` lies entirely inside this block.
    pub fn covers(&self, other: &Cidr) -> bool {
        let (a, b) = self.range();
        let (c, d) = other.range();
        self.family == other.family && a <= c && d <= b
    }

    /// Whether the two blocks share an address (one contains the other).
    pub fn overlaps(&self, other: &Cidr) -> bool {
        let (a, b) = self.range();
        let (c, d) = other.range();
        self.family == other.family && a <= d && c <= b
    }

    /// The network address.
    pub fn network_ip(&self) -> IpAddr {
        num_to_ip(self.family, self.network)
    }

    /// The n-th address of the block (wrapping inside it).
    pub fn nth(&self, n: u128) -> IpAddr {
        let (lo, hi) = self.range();
        let size = hi - lo;
        let off = if size == u128::MAX { n } else { n % (size + 1) };
        num_to_ip(self.family, lo + off)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network_ip(), self.prefix)
    }
}

/// An IPv4 address with leading zeros in its parts (`010.0.0.1`), read as decimal the way
/// Go's parser (and so the API server, which warns) reads it.
pub fn parse_ipv4_leading_zeros(s: &str) -> Option<std::net::Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut octets = [0u8; 4];
    for (o, p) in octets.iter_mut().zip(&parts) {
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *o = p.parse().ok()?;
    }
    Some(std::net::Ipv4Addr::from(octets))
}

/// Whether `s` (a CIDR or an address) has an IPv4 part written with a leading zero.
pub fn has_leading_zeros(s: &str) -> bool {
    let addr = s.split('/').next().unwrap_or("");
    addr.parse::<IpAddr>().is_err() && parse_ipv4_leading_zeros(addr).is_some()
}

impl FromStr for Cidr {
    type Err = String;
    /// Parses `a.b.c.d/n` or `x::/n` as Kubernetes does: IPv4 parts with leading zeros are
    /// decimal, and an IPv4-mapped IPv6 block (`::ffff:10.0.0.0/104`) is the IPv4 block it
    /// maps (`10.0.0.0/8`). A bare address is not a CIDR here.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, len) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not a CIDR (missing /prefix)"))?;
        let ip: IpAddr = addr
            .parse()
            .ok()
            .or_else(|| parse_ipv4_leading_zeros(addr).map(IpAddr::V4))
            .ok_or_else(|| format!("{s:?} is not a CIDR: {addr:?} is not an IP address"))?;
        if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) || len.len() > 3 {
            return Err(format!("{s:?} is not a CIDR: bad prefix length {len:?}"));
        }
        let prefix: u8 = len
            .parse()
            .map_err(|_| format!("{s:?} is not a CIDR: bad prefix length {len:?}"))?;
        if let IpAddr::V6(v6) = ip {
            if let (Some(v4), true) = (v6.to_ipv4_mapped(), (96..=128).contains(&prefix)) {
                return Cidr::new(IpAddr::V4(v4), prefix - 96)
                    .map_err(|e| format!("{s:?} is not a CIDR: {e}"));
            }
        }
        Cidr::new(ip, prefix).map_err(|e| format!("{s:?} is not a CIDR: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        s.parse().unwrap()
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn host_bits_are_cleared_like_go() {
        assert_eq!(c("10.20.1.3/17").to_string(), "10.20.0.0/17");
        assert!(c("10.20.1.3/17").contains(ip("10.20.127.255")));
        assert!(!c("10.20.1.3/17").contains(ip("10.20.128.0")));
    }

    #[test]
    fn cidrs_read_as_go_and_the_api_server_read_them() {
        // IPv4-mapped: Go's IPNet masks the IPv4 form with the last 32 bits of the mask.
        assert_eq!(c("::ffff:10.0.0.0/104"), c("10.0.0.0/8"));
        assert!(c("::ffff:10.0.0.0/104").contains(ip("10.9.9.9")));
        assert_eq!(c("::ffff:0:0/96"), c("0.0.0.0/0"));
        // Below /96 the block is not all IPv4-mapped: it stays IPv6.
        assert_eq!(c("::ffff:0:0/80").family, Family::V6);
        // Leading zeros are decimal (Kubernetes 1.33 accepts them with a warning).
        assert_eq!(c("010.0.0.0/8"), c("10.0.0.0/8"));
        assert_eq!(c("192.168.001.010/32"), c("192.168.1.10/32"));
        assert!(has_leading_zeros("010.0.0.0/8"));
        assert!(!has_leading_zeros("10.0.0.0/8"));
        assert!("0100.0.0.0/8".parse::<Cidr>().is_err());
        assert!("256.0.0.0/8".parse::<Cidr>().is_err());
    }

    #[test]
    fn zero_prefix_covers_the_family_only() {
        assert!(c("0.0.0.0/0").contains(ip("255.255.255.255")));
        assert!(!c("0.0.0.0/0").contains(ip("::1")));
        assert!(c("::/0").contains(ip("2001:db8::1")));
        assert_eq!(c("::/0").range(), (0, u128::MAX));
    }

    #[test]
    fn covers_and_overlaps() {
        assert!(c("10.0.0.0/8").covers(&c("10.1.0.0/16")));
        assert!(!c("10.1.0.0/16").covers(&c("10.0.0.0/8")));
        assert!(c("10.1.0.0/16").overlaps(&c("10.0.0.0/8")));
        assert!(!c("10.1.0.0/16").overlaps(&c("10.2.0.0/16")));
        assert!(!c("10.0.0.0/8").overlaps(&c("::/0")));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "10.0.0.0",
            "10.0.0.0/33",
            "10.0.0/8",
            "x/8",
            "10.0.0.0/-1",
            "::/129",
            "10.0.0.0/",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn nth_stays_inside() {
        let b = c("10.244.0.0/16");
        assert_eq!(b.nth(0), ip("10.244.0.0"));
        assert_eq!(b.nth(258), ip("10.244.1.2"));
        assert_eq!(b.nth(65536 + 5), ip("10.244.0.5"));
    }
}
