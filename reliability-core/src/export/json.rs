//! Pretty JSON through `serde::Serialize`, without `serde_json`.
//!
//! `serde_json` implements `PartialEq<Value>` for `u8`, `i32`, `bool`, `str`, …;
//! a crate in the default dependency graph that does so makes `x == y` with an
//! uninferred side ambiguous (E0283) in every user's crate. The report needs
//! only to *write* JSON, so this small serializer does it, in the same shape
//! and bytes as `serde_json::to_string_pretty`: two-space indentation,
//! `"key": value`, `[]` and `{}` when empty, strings escaped per RFC 8259,
//! finite floats in their shortest round-trip form and non-finite ones as
//! `null`.

use std::fmt::{self, Display, Write as _};
use std::ops::RangeInclusive;

use serde::ser::{self, Serialize};

/// Why a value could not be written as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JsonError(String);

impl Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for JsonError {}

impl ser::Error for JsonError {
    fn custom<T: Display>(msg: T) -> Self {
        JsonError(msg.to_string())
    }
}

/// `value` as pretty-printed JSON.
pub(crate) fn to_string_pretty<T: Serialize + ?Sized>(value: &T) -> Result<String, JsonError> {
    let mut writer = Writer {
        out: String::new(),
        depth: 0,
    };
    value.serialize(&mut writer)?;
    Ok(writer.out)
}

/// The output and the current nesting depth (for indentation).
struct Writer {
    out: String,
    depth: usize,
}

impl Writer {
    fn newline_and_indent(&mut self) {
        self.out.push('\n');
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
    }

    /// Opens an array or object (`[` or `{`); its items follow.
    fn open<'a>(&'a mut self, bracket: char, variant: Option<&'static str>) -> Compound<'a> {
        if let Some(variant) = variant {
            // `{"Variant": <the array or object>}`, as serde_json writes it.
            self.out.push('{');
            self.depth += 1;
            self.newline_and_indent();
            write_str(&mut self.out, variant);
            self.out.push_str(": ");
        }
        self.out.push(bracket);
        self.depth += 1;
        Compound {
            writer: self,
            close: if bracket == '[' { ']' } else { '}' },
            empty: true,
            variant: variant.is_some(),
        }
    }

    /// `{"variant": value}`, for a newtype variant.
    fn single_entry<T: Serialize + ?Sized>(
        &mut self,
        variant: &'static str,
        value: &T,
    ) -> Result<(), JsonError> {
        self.out.push('{');
        self.depth += 1;
        self.newline_and_indent();
        write_str(&mut self.out, variant);
        self.out.push_str(": ");
        value.serialize(&mut *self)?;
        self.depth -= 1;
        self.newline_and_indent();
        self.out.push('}');
        Ok(())
    }
}

/// Writes `value` as a JSON string: quoted, with `"`, `\` and the control
/// characters U+0000 to U+001F escaped (RFC 8259, section 7).
fn write_str(out: &mut String, value: &str) {
    out.push('"');
    let mut start = 0;
    for (i, byte) in value.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0C => "\\f",
            0x00..=0x1F => "",
            _ => continue,
        };
        out.push_str(&value[start..i]);
        if escape.is_empty() {
            // Infallible: writing into a String.
            let _ = write!(out, "\\u{byte:04x}");
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&value[start..]);
    out.push('"');
}

/// Writes a float in its shortest round-trip form, laid out as `serde_json`
/// does: plain decimals while the decimal exponent is within `fixed`
/// (`1.0`, `0.00125`, `1500000.0`), scientific outside it (`1e+16`,
/// `2.5e-7`); `null` for NaN and the infinities, which JSON cannot express.
///
/// `scientific` is the float formatted with `{:e}`, which std guarantees to
/// be the shortest digits that round-trip (`-1.25e-3`). When two shortest
/// candidates are equally near (3572143765320.15625 has 17-digit neighbours
/// `…0.1562` and `…0.1563`), std and serde_json may pick different ones;
/// both read back to the same float.
fn write_float(out: &mut String, finite: bool, scientific: &str, fixed: RangeInclusive<i32>) {
    if !finite {
        out.push_str("null");
        return;
    }
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let len = digits.len() as i32;
    if negative {
        out.push('-');
    }
    if fixed.contains(&exponent) {
        if len - 1 <= exponent {
            // 125e4 -> 1250000.0
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', (exponent - len + 1) as usize));
            out.push_str(".0");
        } else if exponent >= 0 {
            // 125e-1 -> 12.5
            let point = (exponent + 1) as usize;
            out.push_str(&digits[..point]);
            out.push('.');
            out.push_str(&digits[point..]);
        } else {
            // 125e-5 -> 0.00125
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exponent - 1) as usize));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        if len > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(
            out,
            "e{}{}",
            if exponent < 0 { '-' } else { '+' },
            exponent.abs()
        );
    }
}

/// The decimal exponents written without an exponent, as `serde_json` does.
const F64_FIXED: RangeInclusive<i32> = -5..=15;
const F32_FIXED: RangeInclusive<i32> = -6..=12;

/// `serialize_i8` … `serialize_u128`: the number in decimal.
macro_rules! integers {
    ($($method:ident: $ty:ty,)*) => {$(
        fn $method(self, v: $ty) -> Result<(), JsonError> {
            // Infallible: writing into a String.
            let _ = write!(self.out, "{v}");
            Ok(())
        }
    )*};
}

impl<'a> ser::Serializer for &'a mut Writer {
    type Ok = ();
    type Error = JsonError;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), JsonError> {
        self.out.push_str(if v { "true" } else { "false" });
        Ok(())
    }

    integers!(
        serialize_i8: i8,
        serialize_i16: i16,
        serialize_i32: i32,
        serialize_i64: i64,
        serialize_i128: i128,
        serialize_u8: u8,
        serialize_u16: u16,
        serialize_u32: u32,
        serialize_u64: u64,
        serialize_u128: u128,
    );

    fn serialize_f32(self, v: f32) -> Result<(), JsonError> {
        write_float(&mut self.out, v.is_finite(), &format!("{v:e}"), F32_FIXED);
        Ok(())
    }

    fn serialize_f64(self, v: f64) -> Result<(), JsonError> {
        write_float(&mut self.out, v.is_finite(), &format!("{v:e}"), F64_FIXED);
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), JsonError> {
        write_str(&mut self.out, v.encode_utf8(&mut [0; 4]));
        Ok(())
    }

    fn serialize_str(self, v: &str) -> Result<(), JsonError> {
        write_str(&mut self.out, v);
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), JsonError> {
        // An array of numbers, as serde_json writes bytes.
        use ser::SerializeSeq;
        let mut seq = self.serialize_seq(Some(v.len()))?;
        for byte in v {
            seq.serialize_element(byte)?;
        }
        seq.end()
    }

    fn serialize_none(self) -> Result<(), JsonError> {
        self.serialize_unit()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), JsonError> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), JsonError> {
        self.out.push_str("null");
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), JsonError> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), JsonError> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), JsonError> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), JsonError> {
        self.single_entry(variant, value)
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a>, JsonError> {
        Ok(self.open('[', None))
    }

    fn serialize_tuple(self, _len: usize) -> Result<Compound<'a>, JsonError> {
        Ok(self.open('[', None))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, JsonError> {
        Ok(self.open('[', None))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, JsonError> {
        Ok(self.open('[', Some(variant)))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a>, JsonError> {
        Ok(self.open('{', None))
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Compound<'a>, JsonError> {
        Ok(self.open('{', None))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, JsonError> {
        Ok(self.open('{', Some(variant)))
    }
}

/// An array or object being written.
struct Compound<'a> {
    writer: &'a mut Writer,
    /// `]` or `}`.
    close: char,
    /// No item written yet: the closing bracket follows directly (`[]`, `{}`).
    empty: bool,
    /// Inside a `{"Variant": …}` wrapper, closed after the bracket.
    variant: bool,
}

impl Compound<'_> {
    /// The separator and indentation before the next item.
    fn next_item(&mut self) {
        if !self.empty {
            self.writer.out.push(',');
        }
        self.empty = false;
        self.writer.newline_and_indent();
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), JsonError> {
        self.next_item();
        value.serialize(&mut *self.writer)
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), JsonError> {
        self.next_item();
        write_str(&mut self.writer.out, key);
        self.writer.out.push_str(": ");
        value.serialize(&mut *self.writer)
    }

    fn finish(self) -> Result<(), JsonError> {
        let writer = self.writer;
        writer.depth -= 1;
        if !self.empty {
            writer.newline_and_indent();
        }
        writer.out.push(self.close);
        if self.variant {
            writer.depth -= 1;
            writer.newline_and_indent();
            writer.out.push('}');
        }
        Ok(())
    }
}

/// The array-like compounds: each item is an element.
macro_rules! array_like {
    ($($trait:ident::$method:ident),*) => {$(
        impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = JsonError;

            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), JsonError> {
                self.element(value)
            }

            fn end(self) -> Result<(), JsonError> {
                self.finish()
            }
        }
    )*};
}

array_like!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = JsonError;

    /// A key as JSON needs it, a string: strings, chars and unit variants
    /// as they are; numbers and booleans quoted, as serde_json does;
    /// anything else is an error.
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), JsonError> {
        self.next_item();
        let mut scratch = Writer {
            out: String::new(),
            depth: 0,
        };
        key.serialize(&mut scratch)?;
        let key = scratch.out;
        let out = &mut self.writer.out;
        match key.as_bytes().first() {
            Some(b'"') => out.push_str(&key),
            Some(b'-' | b'0'..=b'9' | b't' | b'f') => {
                out.push('"');
                out.push_str(&key);
                out.push('"');
            }
            _ => {
                return Err(JsonError(format!(
                    "a JSON object key must be a string, a number, a bool or a unit variant, \
                     not `{key}`"
                )))
            }
        }
        out.push_str(": ");
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), JsonError> {
        value.serialize(&mut *self.writer)
    }

    fn end(self) -> Result<(), JsonError> {
        self.finish()
    }
}

/// The object-like compounds with `'static` keys: each item is a field.
macro_rules! struct_like {
    ($($trait:ident),*) => {$(
        impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = JsonError;

            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), JsonError> {
                self.field(key, value)
            }

            fn end(self) -> Result<(), JsonError> {
                self.finish()
            }
        }
    )*};
}

struct_like!(SerializeStruct, SerializeStructVariant);

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Serialize;

    use super::to_string_pretty;

    /// Ours and serde_json's, byte for byte.
    fn same_as_serde_json<T: Serialize + ?Sized>(value: &T) -> String {
        let ours = to_string_pretty(value).unwrap();
        let theirs = serde_json::to_string_pretty(value).unwrap();
        assert_eq!(ours, theirs);
        ours
    }

    #[derive(Serialize)]
    #[serde(rename_all = "snake_case")]
    enum Shape {
        Unit,
        Newtype(u32),
        Tuple(i8, bool),
        Struct { name: &'static str, empty: Vec<u8> },
    }

    #[derive(Serialize)]
    #[serde(tag = "event", rename_all = "snake_case")]
    enum Tagged {
        Opened { at: u64 },
    }

    #[derive(Serialize, PartialEq, Eq, PartialOrd, Ord)]
    #[serde(rename_all = "snake_case")]
    enum Key {
        Timeout,
        Network,
    }

    #[derive(Serialize)]
    struct Everything {
        unit: (),
        none: Option<u8>,
        some: Option<i64>,
        chars: char,
        signed: i128,
        unsigned: u128,
        floats: Vec<f64>,
        small: f32,
        shapes: Vec<Shape>,
        tagged: Tagged,
        by_key: BTreeMap<Key, u64>,
        by_number: BTreeMap<u16, bool>,
        empty_map: BTreeMap<String, u8>,
        nested: Vec<Vec<()>>,
        tuple: (u8, &'static str),
        bytes: serde_bytes_like::Bytes,
    }

    mod serde_bytes_like {
        /// Serialized with `serialize_bytes`.
        pub struct Bytes(pub &'static [u8]);
        impl serde::Serialize for Bytes {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(self.0)
            }
        }
    }

    #[test]
    fn every_shape_is_written_as_serde_json_writes_it() {
        let value = Everything {
            unit: (),
            none: None,
            some: Some(-7),
            chars: 'é',
            signed: i128::MIN,
            unsigned: u128::MAX,
            floats: vec![0.0, -0.0, 1.0, 0.5, 1e-7, 2.5e300, f64::NAN, f64::INFINITY],
            small: 0.1,
            shapes: vec![
                Shape::Unit,
                Shape::Newtype(3),
                Shape::Tuple(-1, true),
                Shape::Struct {
                    name: "n",
                    empty: vec![],
                },
            ],
            tagged: Tagged::Opened { at: 9 },
            by_key: [(Key::Timeout, 1), (Key::Network, 2)].into_iter().collect(),
            by_number: [(10, true), (2, false)].into_iter().collect(),
            empty_map: BTreeMap::new(),
            nested: vec![vec![], vec![()]],
            tuple: (1, "one"),
            bytes: serde_bytes_like::Bytes(&[0, 255]),
        };
        let json = same_as_serde_json(&value);
        assert!(json.contains("\"floats\": [\n    0.0,\n    -0.0,\n    1.0,"));
        assert!(
            json.contains("null,\n    null\n  ]"),
            "NaN and infinity are null"
        );
    }

    #[test]
    fn strings_are_escaped_per_rfc_8259() {
        let text = "quote \" backslash \\ slash / tab \t nl \n cr \r bell \u{7} \u{8} \u{c} \u{1f} del \u{7f} é 😀";
        let json = same_as_serde_json(text);
        assert_eq!(
            json,
            "\"quote \\\" backslash \\\\ slash / tab \\t nl \\n cr \\r bell \\u0007 \\b \\f \\u001f del \u{7f} é 😀\""
        );
        let back: String = serde_json::from_str(&json).unwrap();
        assert_eq!(back, text);
    }

    #[test]
    fn floats_are_shortest_round_trip_and_laid_out_like_serde_json() {
        // A fixed xorshift sequence over the whole bit space of f64 and f32,
        // plus the layout boundaries.
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut doubles = vec![
            1e-5,
            1e-6,
            1.5e-5,
            1e15,
            1e16,
            123456789012345.6,
            1234567890123456.7,
            5e-324,
            f64::MAX,
            f64::MIN_POSITIVE,
            0.1,
            0.3,
        ];
        let mut singles = vec![1e-6_f32, 1e-7, 1e12, 1e13, f32::MAX, 1e-45, 0.1];
        for _ in 0..20_000 {
            let bits = next();
            doubles.push(f64::from_bits(bits));
            singles.push(f32::from_bits(bits as u32));
            // Values of ordinary size, where the layout switches.
            doubles.push((bits >> 11) as f64 / 2f64.powi((bits % 80) as i32));
        }
        let mut ties = 0;
        for value in doubles {
            ties += usize::from(compare_float(value, value.to_bits(), |t| {
                t.parse::<f64>().unwrap().to_bits()
            }));
        }
        for value in singles {
            ties += usize::from(compare_float(value, value.to_bits().into(), |t| {
                t.parse::<f32>().unwrap().to_bits().into()
            }));
        }
        // Ties are rare: 175 of these 60,000 values (under 0.3%).
        assert!(ties < 600, "{ties} ties");
    }

    /// Checks one float against serde_json: the same text, or (returning
    /// true) a tie between two shortest candidates, which std and serde_json
    /// may break differently: the same layout and length, only the last digit
    /// one apart, and both read back to the same float.
    fn compare_float<F: Serialize + Copy>(
        value: F,
        bits: u64,
        parse: impl Fn(&str) -> u64,
    ) -> bool {
        let ours = to_string_pretty(&value).unwrap();
        let theirs = serde_json::to_string_pretty(&value).unwrap();
        if ours == theirs {
            if ours != "null" {
                assert_eq!(parse(&ours), bits, "{ours} reads back");
            }
            return false;
        }
        assert_eq!(parse(&ours), bits, "{ours} reads back");
        assert_eq!(parse(&theirs), bits, "{theirs} reads back");
        let differing: Vec<usize> = (0..ours.len().max(theirs.len()))
            .filter(|&i| ours.as_bytes().get(i) != theirs.as_bytes().get(i))
            .collect();
        assert_eq!(ours.len(), theirs.len(), "{ours} vs {theirs}");
        assert_eq!(differing.len(), 1, "{ours} vs {theirs}");
        let at = differing[0];
        let last_digit = ours.find('e').unwrap_or(ours.len()) - 1;
        assert_eq!(at, last_digit, "{ours} vs {theirs}: not the last digit");
        assert_eq!(
            ours.as_bytes()[at].abs_diff(theirs.as_bytes()[at]),
            1,
            "{ours} vs {theirs}"
        );
        true
    }

    #[test]
    fn a_key_that_is_not_a_string_is_an_error() {
        let map: BTreeMap<Vec<u8>, u8> = [(vec![1], 1)].into_iter().collect();
        assert!(to_string_pretty(&map).is_err());
        assert!(serde_json::to_string_pretty(&map).is_err());
    }
}
