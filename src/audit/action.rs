//! Every action the audit log records, in one list. The stored text (`as_str`) is part of the
//! log's hash chain and of what auditors read, so a variant's text never changes once shipped.

use std::fmt;

/// Something that happened, as the audit log names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    // Schools and people.
    SchoolCreated,
    SignIn,
    SignInRefused,
    SignOut,
    RoleAssigned,
    RoleRevoked,
    DriveOperatorConnected,
    SettingsChanged,
    SyncRequested,
    // Where classes belong (subject and year group).
    ClassRuleAdded,
    ClassRuleChanged,
    ClassRuleRemoved,
    ClassRulesReordered,
    ClassRulesApplied,
    ClassPlacementSet,
    // Class folders following their teachers.
    ClassFolderShared,
    ClassFolderUnshared,
    // Locking and unlocking portfolios.
    LockRequested,
    UnlockRequested,
    LockApplied,
    UnlockApplied,
    LockFailed,
    UnlockFailed,
    // The onward-share scan.
    ShareScanRequested,
    ShareScanFinished,
    ShareScanFailed,
    ShareFound,
    ShareRemoveRequested,
    ShareKept,
    ShareRemoved,
    ShareRemoveFailed,
    // Assessment windows and the officers' calendar feed.
    WindowCreated,
    WindowChanged,
    WindowCancelled,
    WindowReleased,
    WindowStarted,
    WindowEnded,
    WindowHeld,
    WindowClassAdded,
    WindowOverridden,
    WindowsListed,
    WindowViewed,
    WindowPreviewed,
    CalendarFeedCreated,
    CalendarFeedRevoked,
    CalendarFeedRead,
}

impl Action {
    /// Every action, for tests and for documents listing them.
    pub const ALL: [Action; 46] = [
        Self::SchoolCreated,
        Self::SignIn,
        Self::SignInRefused,
        Self::SignOut,
        Self::RoleAssigned,
        Self::RoleRevoked,
        Self::DriveOperatorConnected,
        Self::SettingsChanged,
        Self::SyncRequested,
        Self::ClassRuleAdded,
        Self::ClassRuleChanged,
        Self::ClassRuleRemoved,
        Self::ClassRulesReordered,
        Self::ClassRulesApplied,
        Self::ClassPlacementSet,
        Self::ClassFolderShared,
        Self::ClassFolderUnshared,
        Self::LockRequested,
        Self::UnlockRequested,
        Self::LockApplied,
        Self::UnlockApplied,
        Self::LockFailed,
        Self::UnlockFailed,
        Self::ShareScanRequested,
        Self::ShareScanFinished,
        Self::ShareScanFailed,
        Self::ShareFound,
        Self::ShareRemoveRequested,
        Self::ShareKept,
        Self::ShareRemoved,
        Self::ShareRemoveFailed,
        Self::WindowCreated,
        Self::WindowChanged,
        Self::WindowCancelled,
        Self::WindowReleased,
        Self::WindowStarted,
        Self::WindowEnded,
        Self::WindowHeld,
        Self::WindowClassAdded,
        Self::WindowOverridden,
        Self::WindowsListed,
        Self::WindowViewed,
        Self::WindowPreviewed,
        Self::CalendarFeedCreated,
        Self::CalendarFeedRevoked,
        Self::CalendarFeedRead,
    ];

    /// The text stored in `audit_log.action`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SchoolCreated => "school.created",
            Self::SignIn => "signin",
            Self::SignInRefused => "signin.refused",
            Self::SignOut => "signout",
            Self::RoleAssigned => "role.assigned",
            Self::RoleRevoked => "role.revoked",
            Self::DriveOperatorConnected => "drive_operator.connected",
            Self::SettingsChanged => "settings.changed",
            Self::SyncRequested => "sync.requested",
            Self::ClassRuleAdded => "class_rule.added",
            Self::ClassRuleChanged => "class_rule.changed",
            Self::ClassRuleRemoved => "class_rule.removed",
            Self::ClassRulesReordered => "class_rules.reordered",
            Self::ClassRulesApplied => "class_rules.applied",
            Self::ClassPlacementSet => "class.placement_set",
            Self::ClassFolderShared => "class_folder.shared",
            Self::ClassFolderUnshared => "class_folder.unshared",
            Self::LockRequested => "portfolio.lock.requested",
            Self::UnlockRequested => "portfolio.unlock.requested",
            Self::LockApplied => "portfolio.lock.applied",
            Self::UnlockApplied => "portfolio.unlock.applied",
            Self::LockFailed => "portfolio.lock.failed",
            Self::UnlockFailed => "portfolio.unlock.failed",
            Self::ShareScanRequested => "share_scan.requested",
            Self::ShareScanFinished => "share_scan.finished",
            Self::ShareScanFailed => "share_scan.failed",
            Self::ShareFound => "share.found",
            Self::ShareRemoveRequested => "share.remove.requested",
            Self::ShareKept => "share.kept",
            Self::ShareRemoved => "share.removed",
            Self::ShareRemoveFailed => "share.remove.failed",
            Self::WindowCreated => "window.created",
            Self::WindowChanged => "window.changed",
            Self::WindowCancelled => "window.cancelled",
            Self::WindowReleased => "window.released",
            Self::WindowStarted => "window.started",
            Self::WindowEnded => "window.ended",
            Self::WindowHeld => "window.held",
            Self::WindowClassAdded => "window.class_added",
            Self::WindowOverridden => "window.overridden",
            Self::WindowsListed => "windows.listed",
            Self::WindowViewed => "window.viewed",
            Self::WindowPreviewed => "window.previewed",
            Self::CalendarFeedCreated => "calendar_feed.created",
            Self::CalendarFeedRevoked => "calendar_feed.revoked",
            Self::CalendarFeedRead => "calendar_feed.read",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_its_own_text() {
        let mut texts: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
        texts.sort_unstable();
        texts.dedup();
        assert_eq!(texts.len(), Action::ALL.len());
    }
}
