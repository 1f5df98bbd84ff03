//! What a window will lock, in words: the domain's preview (`crate::windows::preview`) as the
//! form and the window's page show it.

use uuid::Uuid;

use crate::portfolio::overview::student_name;
use crate::windows::preview::{CannotLock, Overlap, Preview};

use super::london_time;

/// One class of the preview.
pub struct PreviewClass {
    pub name: String,
    /// "Chemistry · Year 10"
    pub placement: String,
    /// "Chosen" or "In a group".
    pub how: &'static str,
    pub students: usize,
    pub will_lock: usize,
    /// "Maya Ali: no folder yet (…)"
    pub problems: Vec<String>,
}

/// Another window at an overlapping time over some of the same classes.
pub struct OverlapLine {
    pub id: String,
    pub name: String,
    pub when: String,
    /// Names of the classes both cover.
    pub classes: String,
}

/// What a window would lock, in words, for the form's preview and (before the start) an
/// officer's view of the window.
pub struct PreviewView {
    /// "10:00 on 23 March 2027 to 11:30 on 23 March 2027" (set by the form, which has the
    /// instants).
    pub when: String,
    /// When the Drive operator cannot act, what to do (nothing would lock).
    pub drive_problem: Option<&'static str>,
    pub will_lock: usize,
    pub cannot_lock: usize,
    pub classes: Vec<PreviewClass>,
    pub overlaps: Vec<OverlapLine>,
}

/// Why one student's folder would not lock, for an officer.
fn reason(r: CannotLock) -> &'static str {
    match r {
        CannotLock::NoFolderYet => "no folder yet (it is made, already locked, at the next sync)",
        CannotLock::NoEmail => {
            "Classroom gives no email address for them, so Drive cannot lock them out"
        }
        CannotLock::DriveOperatorDisconnected => "the school's Drive account is not connected",
    }
}

impl OverlapLine {
    /// The overlapping windows as lines. `class_name` names the classes of the window they
    /// overlap; `visible` is who may see which classes (`None`: all): an overlap over none of
    /// them is left out, as the list leaves it out, and only classes they see are named.
    pub fn lines<'a>(
        overlaps: &[Overlap],
        class_name: impl Fn(&Uuid) -> Option<&'a str>,
        visible: Option<&[Uuid]>,
    ) -> Vec<Self> {
        let sees = |class: &Uuid| visible.is_none_or(|v| v.contains(class));
        overlaps
            .iter()
            .filter(|o| o.shared_classes.iter().any(sees))
            .map(|o| Self {
                id: o.id.to_string(),
                name: o.name.clone(),
                when: format!("{} to {}", london_time(o.starts_at), london_time(o.ends_at)),
                classes: o
                    .shared_classes
                    .iter()
                    .filter(|c| sees(c))
                    .filter_map(&class_name)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
            .collect()
    }
}

impl PreviewView {
    /// `visible`: who may see which classes (`None`: all); overlapping windows over none of
    /// them are left out, as the list leaves them out.
    pub fn new(p: &Preview, visible: Option<&[Uuid]>) -> Self {
        let drive_problem = match p.drive_operator {
            "connected" => None,
            "needs_reconnect" => Some(
                "The school's Drive account must be reconnected before anything can lock: ask \
                 your School Admin.",
            ),
            _ => Some(
                "The school's Drive account is not connected, so nothing can lock: ask your \
                 School Admin to connect it.",
            ),
        };
        let class_name = |id: &Uuid| {
            p.classes
                .iter()
                .find(|c| c.id == *id)
                .map(|c| c.name.as_str())
        };
        let overlaps = OverlapLine::lines(&p.overlaps, class_name, visible);
        Self {
            when: String::new(),
            drive_problem,
            will_lock: p.will_lock,
            cannot_lock: p.cannot_lock,
            classes: p
                .classes
                .iter()
                .map(|c| {
                    let mut placement: Vec<String> = Vec::new();
                    placement.extend(c.subject.clone());
                    placement.extend(c.year_group.map(|y| format!("Year {y}")));
                    PreviewClass {
                        name: c.name.clone(),
                        placement: placement.join(" · "),
                        how: if c.chosen { "Chosen" } else { "In a group" },
                        students: c.students,
                        will_lock: c.will_lock,
                        problems: c
                            .cannot_lock
                            .iter()
                            .map(|s| {
                                let name = student_name(
                                    s.given_name.as_deref(),
                                    s.family_name.as_deref(),
                                    None,
                                    s.student_id,
                                );
                                format!("{name}: {}", reason(s.reason))
                            })
                            .collect(),
                    }
                })
                .collect(),
            overlaps,
        }
    }
}
