//! Europe/London wall-clock times, as exams officers write them ("Tuesday 10:00"), to the UTC
//! instants we store, and back. The UK's clocks make two kinds of time awkward:
//!
//! - on the last Sunday of March the clocks go forward from 01:00 to 02:00 GMT, so 01:00–01:59
//!   that night never happens: such a time is refused, never quietly moved;
//! - on the last Sunday of October they go back from 02:00 BST to 01:00 GMT, so 01:00–01:59
//!   happens twice: such a time is refused unless it says which, by its offset (`+01:00` for
//!   the first, in BST; `+00:00` for the second, in GMT).

use chrono::{DateTime, FixedOffset, LocalResult, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Europe::London;

/// Why a wall-clock time could not be placed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WallClockError {
    #[error("{0:?} is not a date and time like 2027-03-23T10:00")]
    Unparseable(String),
    #[error("{0} does not happen in the UK: the clocks go forward from 01:00 to 02:00 that night")]
    InSpringGap(NaiveDateTime),
    #[error(
        "{0} happens twice in the UK as the clocks go back: add +01:00 for the first (BST) or \
         +00:00 for the second (GMT)"
    )]
    Ambiguous(NaiveDateTime),
    #[error("{time} is not at UTC{given} in the UK")]
    WrongOffset { time: NaiveDateTime, given: String },
}

const FORMATS: [&str; 4] = [
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M:%S",
];

/// The instant a London wall-clock time names: `2027-03-23T10:00` (no offset; refused where
/// the clocks make it ambiguous or impossible) or `2027-10-31T01:30+01:00` (an offset the UK
/// was at, at that time).
pub fn london_to_utc(raw: &str) -> Result<DateTime<Utc>, WallClockError> {
    let raw = raw.trim();
    if let Ok(with_offset) = DateTime::<FixedOffset>::parse_from_rfc3339(raw)
        .or_else(|_| DateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M%:z"))
    {
        let wall = with_offset.naive_local();
        let wanted = with_offset.offset().fix();
        let candidates: Vec<DateTime<chrono_tz::Tz>> = match London.from_local_datetime(&wall) {
            LocalResult::Single(t) => vec![t],
            LocalResult::Ambiguous(a, b) => vec![a, b],
            LocalResult::None => return Err(WallClockError::InSpringGap(wall)),
        };
        return candidates
            .into_iter()
            .find(|t| t.offset().fix() == wanted)
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| WallClockError::WrongOffset {
                time: wall,
                given: wanted.to_string(),
            });
    }
    let wall = FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(raw, f).ok())
        .ok_or_else(|| WallClockError::Unparseable(raw.chars().take(40).collect()))?;
    match London.from_local_datetime(&wall) {
        LocalResult::Single(t) => Ok(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(..) => Err(WallClockError::Ambiguous(wall)),
        LocalResult::None => Err(WallClockError::InSpringGap(wall)),
    }
}

/// An instant as London's wall clock shows it, with the offset in force (so the autumn's
/// repeated hour is never ambiguous on the way back): `2027-10-31T01:30:00+00:00`.
pub fn utc_to_london(instant: DateTime<Utc>) -> String {
    instant
        .with_timezone(&London)
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn ordinary_times_in_winter_and_summer() {
        assert_eq!(
            london_to_utc("2027-01-12T10:00").unwrap(),
            utc("2027-01-12T10:00:00Z")
        );
        assert_eq!(
            london_to_utc("2027-06-15 10:00:30").unwrap(),
            utc("2027-06-15T09:00:30Z")
        );
        assert_eq!(
            utc_to_london(utc("2027-06-15T09:00:00Z")),
            "2027-06-15T10:00:00+01:00"
        );
    }

    #[test]
    fn the_spring_gap_is_refused_and_its_edges_are_not() {
        // Sunday 28 March 2027: 01:00 GMT becomes 02:00 BST.
        assert_eq!(
            london_to_utc("2027-03-28T00:59").unwrap(),
            utc("2027-03-28T00:59:00Z")
        );
        assert!(matches!(
            london_to_utc("2027-03-28T01:00"),
            Err(WallClockError::InSpringGap(_))
        ));
        assert!(matches!(
            london_to_utc("2027-03-28T01:59"),
            Err(WallClockError::InSpringGap(_))
        ));
        assert!(matches!(
            london_to_utc("2027-03-28T01:30+00:00"),
            Err(WallClockError::InSpringGap(_))
        ));
        assert_eq!(
            london_to_utc("2027-03-28T02:00").unwrap(),
            utc("2027-03-28T01:00:00Z")
        );
    }

    #[test]
    fn the_autumn_repeat_needs_its_offset_and_its_edges_do_not() {
        // Sunday 31 October 2027: 02:00 BST becomes 01:00 GMT.
        assert_eq!(
            london_to_utc("2027-10-31T00:59").unwrap(),
            utc("2027-10-30T23:59:00Z")
        );
        assert!(matches!(
            london_to_utc("2027-10-31T01:30"),
            Err(WallClockError::Ambiguous(_))
        ));
        assert_eq!(
            london_to_utc("2027-10-31T01:30+01:00").unwrap(),
            utc("2027-10-31T00:30:00Z")
        );
        assert_eq!(
            london_to_utc("2027-10-31T01:30+00:00").unwrap(),
            utc("2027-10-31T01:30:00Z")
        );
        assert_eq!(
            london_to_utc("2027-10-31T02:00").unwrap(),
            utc("2027-10-31T02:00:00Z")
        );
        // Back out, the offset says which of the two it was.
        assert_eq!(
            utc_to_london(utc("2027-10-31T00:30:00Z")),
            "2027-10-31T01:30:00+01:00"
        );
        assert_eq!(
            utc_to_london(utc("2027-10-31T01:30:00Z")),
            "2027-10-31T01:30:00+00:00"
        );
    }

    #[test]
    fn offsets_the_uk_was_not_at_and_nonsense_are_refused() {
        assert!(matches!(
            london_to_utc("2027-07-01T10:00+00:00"),
            Err(WallClockError::WrongOffset { .. })
        ));
        assert!(matches!(
            london_to_utc("2027-07-01T10:00+05:30"),
            Err(WallClockError::WrongOffset { .. })
        ));
        for bad in [
            "",
            "tomorrow at ten",
            "2027-13-01T10:00",
            "2027-02-30T10:00",
        ] {
            assert!(
                matches!(london_to_utc(bad), Err(WallClockError::Unparseable(_))),
                "{bad}"
            );
        }
    }
}
