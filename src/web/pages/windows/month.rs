//! A month of windows as a calendar: weeks from Monday to Sunday, and on each day the windows
//! under way then (in London's days), worded for that day ("10:00–11:30", "from 14:00",
//! "until 11:30", "all day"). Pure, so it is tested without a database.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Europe::London;
use uuid::Uuid;

use super::{state_class, state_words};
use crate::windows::{Window, WindowState};

/// One calendar month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Month {
    first: NaiveDate,
}

impl Month {
    /// The month of a date.
    pub fn of(date: NaiveDate) -> Self {
        Self {
            first: date.with_day(1).unwrap_or(date),
        }
    }

    /// `2027-03`; anything else is `None`.
    pub fn parse(raw: &str) -> Option<Self> {
        NaiveDate::parse_from_str(&format!("{}-01", raw.trim()), "%Y-%m-%d")
            .ok()
            .filter(|d| (2000..=2200).contains(&d.year()))
            .map(Self::of)
    }

    /// `2027-03`, for links.
    pub fn param(self) -> String {
        self.first.format("%Y-%m").to_string()
    }

    /// "March 2027"
    pub fn label(self) -> String {
        self.first.format("%B %Y").to_string()
    }

    /// The month after (the 32nd day from a first always falls in it).
    pub fn next(self) -> Self {
        Self::of(self.first + Duration::days(32))
    }

    /// The month before (the day before its first is in it).
    pub fn previous(self) -> Self {
        Self::of(self.first - Duration::days(1))
    }

    /// Its first and last days.
    fn days(self) -> (NaiveDate, NaiveDate) {
        (self.first, self.next().first - Duration::days(1))
    }

    /// From London's midnight at its start to London's midnight at the next month's (UK clocks
    /// never change at midnight, so both exist).
    pub fn bounds(self) -> (DateTime<Utc>, DateTime<Utc>) {
        let midnight = |d: NaiveDate| {
            London
                .from_local_datetime(&d.and_time(chrono::NaiveTime::MIN))
                .earliest()
                .map_or_else(
                    || d.and_time(chrono::NaiveTime::MIN).and_utc(),
                    |t| t.with_timezone(&Utc),
                )
        };
        (midnight(self.first), midnight(self.next().first))
    }
}

/// A window on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayEntry {
    pub id: Uuid,
    pub name: String,
    /// "10:00–11:30", "from 14:00", "until 11:30", "all day", "until released".
    pub when: String,
    pub state: String,
    pub state_class: &'static str,
    /// Called off: the grid says so in words (other states are told by the list below it).
    pub cancelled: bool,
    /// For sorting the day: when it started.
    starts_at: DateTime<Utc>,
}

/// One day of the grid; days of the months either side are blank (`in_month` false).
#[derive(Debug, Clone)]
pub struct Day {
    pub number: u32,
    pub in_month: bool,
    pub today: bool,
    /// "Tuesday 23 March 2027"
    pub label: String,
    pub entries: Vec<DayEntry>,
}

/// The weeks of `month`, Monday first, with `windows` placed on their days; `today` is
/// London's date now (a held window is shown up to it).
pub fn weeks(month: Month, windows: &[Window], today: NaiveDate) -> Vec<Vec<Day>> {
    let (first, last) = month.days();
    let start = first - Duration::days(i64::from(first.weekday().num_days_from_monday()));
    let mut weeks = Vec::new();
    let mut date = start;
    while date <= last {
        let mut week = Vec::with_capacity(7);
        for _ in 0..7 {
            let in_month = date >= first && date <= last;
            let mut entries: Vec<DayEntry> = if in_month {
                windows
                    .iter()
                    .filter_map(|w| entry(w, date, today))
                    .collect()
            } else {
                Vec::new()
            };
            entries.sort_by_key(|e| (e.starts_at, e.id));
            week.push(Day {
                number: date.day(),
                in_month,
                today: date == today,
                label: date.format("%A %-d %B %Y").to_string(),
                entries,
            });
            date += Duration::days(1);
        }
        weeks.push(week);
    }
    weeks
}

/// `w` on `date`, if it is under way on that day.
fn entry(w: &Window, date: NaiveDate, today: NaiveDate) -> Option<DayEntry> {
    let starts = w.starts_at.with_timezone(&London);
    // A window ending at midnight does not spill into the next day.
    let ends = (w.ends_at - Duration::seconds(1)).with_timezone(&London);
    let (first_day, end_day) = (starts.date_naive(), ends.date_naive());
    let held_on = w.state == WindowState::Held && date > end_day && date <= today;
    if date < first_day || (date > end_day && !held_on) {
        return None;
    }
    let hm = |t: DateTime<Utc>| t.with_timezone(&London).format("%H:%M").to_string();
    let when = if held_on {
        "until released".to_owned()
    } else if first_day == end_day {
        format!("{}–{}", hm(w.starts_at), hm(w.ends_at))
    } else if date == first_day {
        format!("from {}", hm(w.starts_at))
    } else if date == end_day {
        format!("until {}", hm(w.ends_at))
    } else {
        "all day".to_owned()
    };
    // The deadline of an "until released" window is not its end.
    let when = if w.until_released && date == end_day {
        format!("{when}, then until released")
    } else {
        when
    };
    Some(DayEntry {
        id: w.id,
        name: w.name.clone(),
        when,
        state: state_words(w.state),
        state_class: state_class(w.state),
        cancelled: w.state == WindowState::Cancelled,
        starts_at: w.starts_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::windows::london_time::london_to_utc;

    fn window(name: &str, starts: &str, ends: &str, state: WindowState) -> Window {
        let now = Utc::now();
        Window {
            id: Uuid::new_v4(),
            name: name.to_owned(),
            note: None,
            starts_at: london_to_utc(starts).unwrap(),
            ends_at: london_to_utc(ends).unwrap(),
            until_released: state == WindowState::Held,
            state,
            created_by: None,
            created_at: now,
            updated_at: now,
            started_at: None,
            finished_at: None,
            finished_by: None,
            starts_local: String::new(),
            ends_local: String::new(),
            classes: Vec::new(),
            other_classes: 0,
            selections: Vec::new(),
        }
    }

    fn day(weeks: &[Vec<Day>], n: u32) -> &Day {
        weeks
            .iter()
            .flatten()
            .find(|d| d.in_month && d.number == n)
            .unwrap()
    }

    #[test]
    fn a_month_starts_on_monday_and_blanks_the_days_around_it() {
        let march = Month::parse("2027-03").unwrap();
        let today = NaiveDate::from_ymd_opt(2027, 3, 10).unwrap();
        let weeks = weeks(march, &[], today);
        // 1 March 2027 is a Monday; 31 March a Wednesday.
        assert_eq!(weeks.len(), 5);
        assert!(weeks[0][0].in_month && weeks[0][0].number == 1);
        assert!(!weeks[4][3].in_month);
        assert!(day(&weeks, 10).today);
        assert_eq!(day(&weeks, 23).label, "Tuesday 23 March 2027");
        assert_eq!(march.label(), "March 2027");
        assert_eq!(march.previous().param(), "2027-02");
        assert_eq!(Month::parse("2027-12").unwrap().next().param(), "2028-01");
        assert_eq!(Month::parse("2027-13"), None);
        assert_eq!(Month::parse("soon"), None);
    }

    #[test]
    fn windows_are_worded_on_each_day_they_cover_in_london_time() {
        let march = Month::parse("2027-03").unwrap();
        let today = NaiveDate::from_ymd_opt(2027, 3, 31).unwrap();
        let ws = [
            window(
                "Paper 1",
                "2027-03-23T10:00",
                "2027-03-23T11:30",
                WindowState::Scheduled,
            ),
            window(
                "Coursework",
                "2027-03-24T14:00",
                "2027-03-26T12:00",
                WindowState::Active,
            ),
            window(
                "Deadline",
                "2027-03-29T09:00",
                "2027-03-29T17:00",
                WindowState::Held,
            ),
            window(
                "Midnight",
                "2027-03-05T22:00",
                "2027-03-06T00:00",
                WindowState::Ended,
            ),
        ];
        let weeks = weeks(march, &ws, today);
        assert_eq!(day(&weeks, 23).entries[0].when, "10:00–11:30");
        assert_eq!(day(&weeks, 24).entries[0].when, "from 14:00");
        assert_eq!(day(&weeks, 25).entries[0].when, "all day");
        assert_eq!(day(&weeks, 26).entries[0].when, "until 12:00");
        assert!(day(&weeks, 27).entries.is_empty());
        // After the clocks go forward on the 28th, times are still London's (BST).
        assert_eq!(
            day(&weeks, 29).entries[0].when,
            "09:00–17:00, then until released"
        );
        assert_eq!(day(&weeks, 30).entries[0].when, "until released");
        assert_eq!(day(&weeks, 31).entries[0].when, "until released");
        assert_eq!(day(&weeks, 5).entries[0].when, "22:00–00:00");
        assert!(
            day(&weeks, 6).entries.is_empty(),
            "a midnight end stays on its day"
        );
    }
}
