//! Durations written as strings in the attribute (`"250ms"`), parsed at compile time.

/// Units accepted after the number, with their length in nanoseconds.
const UNITS: &[(&str, u64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses `"250ms"`, `"1.5s"`, `"2 m"` into nanoseconds, or says what is wrong.
pub(crate) fn parse_nanos(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let unit = unit.trim_start();
    if number.is_empty() {
        return Err(format!(
            "invalid duration `{text}`: expected a number followed by a unit, like \"250ms\""
        ));
    }
    let Some(&(_, scale)) = UNITS.iter().find(|(name, _)| *name == unit) else {
        let expected = "`ns`, `us`, `ms`, `s`, `m`, `h`";
        return Err(if unit.is_empty() {
            format!("invalid duration `{text}`: missing unit, expected one of {expected}")
        } else {
            format!("invalid duration `{text}`: unknown unit `{unit}`, expected one of {expected}")
        });
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
        return Err(format!(
            "invalid duration `{text}`: `{number}` is not a number"
        ));
    }
    let overflow = || format!("invalid duration `{text}`: too long");
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| overflow())?
    };
    let mut nanos = whole.checked_mul(scale).ok_or_else(overflow)?;
    // The fractional part, digit by digit, down to the nanosecond.
    let mut place = scale;
    for digit in fraction.bytes() {
        place /= 10;
        nanos = nanos
            .checked_add(u64::from(digit - b'0') * place)
            .ok_or_else(overflow)?;
    }
    Ok(nanos)
}

#[cfg(test)]
mod tests {
    use super::parse_nanos;

    #[test]
    fn accepted_forms() {
        assert_eq!(parse_nanos("250ms"), Ok(250_000_000));
        assert_eq!(parse_nanos("5s"), Ok(5_000_000_000));
        assert_eq!(parse_nanos("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_nanos(".5ms"), Ok(500_000));
        assert_eq!(parse_nanos("2 m"), Ok(120_000_000_000));
        assert_eq!(parse_nanos("1h"), Ok(3_600_000_000_000));
        assert_eq!(parse_nanos("10us"), Ok(10_000));
        assert_eq!(parse_nanos("10µs"), Ok(10_000));
        assert_eq!(parse_nanos("7ns"), Ok(7));
        assert_eq!(parse_nanos("0s"), Ok(0));
    }

    #[test]
    fn refused_forms_say_why() {
        for (text, why) in [
            ("5 parsecs", "unknown unit `parsecs`"),
            ("250", "missing unit"),
            ("ms", "expected a number"),
            ("", "expected a number"),
            ("1.2.3s", "is not a number"),
            (".s", "is not a number"),
            ("99999999999999999999s", "too long"),
            ("9999999999h", "too long"),
        ] {
            let error = parse_nanos(text).unwrap_err();
            assert!(error.contains(why), "{text}: {error}");
        }
    }
}
