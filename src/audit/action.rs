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
    /// A Drive operator account Google refused, or that no longer manages the Shared Drive: its
    /// work goes to the school's other accounts until it is connected again.
    DriveOperatorSetAside,
    /// A School Admin removed a Drive operator account; its grant is revoked at Google.
    DriveOperatorRemoved,
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
    // The audit log itself.
    AuditLogRead,
    // Data protection: subject access, erasure, retention, leavers.
    SubjectAccessExported,
    StudentErased,
    RetentionPurged,
    StaffLeft,
    GoogleGrantRevoked,
    // Invigilator's own operators: support access, command-line actions, offboarding.
    SupportAccessGranted,
    SupportAccessRevoked,
    SupportAccessRead,
    OperatorSync,
    OperatorAuditVerified,
    OperatorKeysRewrapped,
    OperatorSessionsEnded,
    OperatorGrantsRevoked,
    OffboardingExported,
    OffboardingConfirmed,
    OffboardingCancelled,
}

impl Action {
    /// Every action, for tests and for documents listing them.
    pub const ALL: [Action; 65] = [
        Self::SchoolCreated,
        Self::SignIn,
        Self::SignInRefused,
        Self::SignOut,
        Self::RoleAssigned,
        Self::RoleRevoked,
        Self::DriveOperatorConnected,
        Self::DriveOperatorSetAside,
        Self::DriveOperatorRemoved,
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
        Self::AuditLogRead,
        Self::SubjectAccessExported,
        Self::StudentErased,
        Self::RetentionPurged,
        Self::StaffLeft,
        Self::GoogleGrantRevoked,
        Self::SupportAccessGranted,
        Self::SupportAccessRevoked,
        Self::SupportAccessRead,
        Self::OperatorSync,
        Self::OperatorAuditVerified,
        Self::OperatorKeysRewrapped,
        Self::OperatorSessionsEnded,
        Self::OperatorGrantsRevoked,
        Self::OffboardingExported,
        Self::OffboardingConfirmed,
        Self::OffboardingCancelled,
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
            Self::DriveOperatorSetAside => "drive_operator.set_aside",
            Self::DriveOperatorRemoved => "drive_operator.removed",
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
            Self::AuditLogRead => "audit_log.read",
            Self::SubjectAccessExported => "subject_access.exported",
            Self::StudentErased => "student.erased",
            Self::RetentionPurged => "retention.purged",
            Self::StaffLeft => "staff.left",
            Self::GoogleGrantRevoked => "google_grant.revoked",
            Self::SupportAccessGranted => "support_access.granted",
            Self::SupportAccessRevoked => "support_access.revoked",
            Self::SupportAccessRead => "support_access.read",
            Self::OperatorSync => "operator.sync",
            Self::OperatorAuditVerified => "operator.audit_verified",
            Self::OperatorKeysRewrapped => "operator.keys_rewrapped",
            Self::OperatorSessionsEnded => "operator.sessions_ended",
            Self::OperatorGrantsRevoked => "operator.grants_revoked",
            Self::OffboardingExported => "offboarding.exported",
            Self::OffboardingConfirmed => "offboarding.confirmed",
            Self::OffboardingCancelled => "offboarding.cancelled",
        }
    }

    /// The action whose stored text is `text`, if it is one of ours.
    pub fn from_stored(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == text)
    }

    /// What happened, in plain words for the audit log page (never stored: wording may change).
    pub fn label(self) -> &'static str {
        match self {
            Self::SchoolCreated => "School registered",
            Self::SignIn => "Signed in",
            Self::SignInRefused => "Sign-in refused",
            Self::SignOut => "Signed out",
            Self::RoleAssigned => "Role given",
            Self::RoleRevoked => "Role taken away",
            Self::DriveOperatorConnected => "School's Drive account connected",
            Self::DriveOperatorSetAside => "School's Drive account set aside",
            Self::DriveOperatorRemoved => "School's Drive account removed",
            Self::SettingsChanged => "School settings changed",
            Self::SyncRequested => "Classroom sync asked for",
            Self::ClassRuleAdded => "Subject or year rule added",
            Self::ClassRuleChanged => "Subject or year rule changed",
            Self::ClassRuleRemoved => "Subject or year rule removed",
            Self::ClassRulesReordered => "Subject or year rules reordered",
            Self::ClassRulesApplied => "Subject and year rules applied to every class",
            Self::ClassPlacementSet => "Class's subject or year set by hand",
            Self::ClassFolderShared => "Class folder shared with its teachers",
            Self::ClassFolderUnshared => "Class folder no longer shared",
            Self::LockRequested => "Lock asked for",
            Self::UnlockRequested => "Unlock asked for",
            Self::LockApplied => "Locked in Drive",
            Self::UnlockApplied => "Unlocked in Drive",
            Self::LockFailed => "Lock failed",
            Self::UnlockFailed => "Unlock failed",
            Self::ShareScanRequested => "Onward-share scan asked for",
            Self::ShareScanFinished => "Onward-share scan finished",
            Self::ShareScanFailed => "Onward-share scan failed",
            Self::ShareFound => "Onward share found",
            Self::ShareRemoveRequested => "Onward share removal asked for",
            Self::ShareKept => "Onward share kept",
            Self::ShareRemoved => "Onward share removed",
            Self::ShareRemoveFailed => "Onward share removal failed",
            Self::WindowCreated => "Assessment window scheduled",
            Self::WindowChanged => "Assessment window changed",
            Self::WindowCancelled => "Assessment window cancelled",
            Self::WindowReleased => "Assessment window released",
            Self::WindowStarted => "Assessment window started",
            Self::WindowEnded => "Assessment window ended",
            Self::WindowHeld => "Assessment window held until released",
            Self::WindowClassAdded => "Class added to an assessment window",
            Self::WindowOverridden => "Student let out of an assessment window",
            Self::WindowsListed => "Assessment windows looked at",
            Self::WindowViewed => "Assessment window looked at",
            Self::WindowPreviewed => "Assessment window previewed",
            Self::CalendarFeedCreated => "Calendar feed address made",
            Self::CalendarFeedRevoked => "Calendar feed address revoked",
            Self::CalendarFeedRead => "Calendar feed read",
            Self::AuditLogRead => "Audit log read",
            Self::SubjectAccessExported => "Subject access export made",
            Self::StudentErased => "Student's records erased",
            Self::RetentionPurged => "Records past the retention period deleted",
            Self::StaffLeft => "Member of staff left: their Google access ended",
            Self::GoogleGrantRevoked => "Google access revoked at Google",
            Self::SupportAccessGranted => "Support access granted to an Invigilator operator",
            Self::SupportAccessRevoked => "Support access revoked",
            Self::SupportAccessRead => {
                "Invigilator operator read the school's data under support access"
            }
            Self::OperatorSync => "Invigilator operator synced Classroom from the command line",
            Self::OperatorAuditVerified => {
                "Invigilator operator verified the audit log from the command line"
            }
            Self::OperatorKeysRewrapped => {
                "Invigilator operator re-encrypted stored Google access under a new key"
            }
            Self::OperatorSessionsEnded => {
                "Invigilator operator ended every session after a suspected breach"
            }
            Self::OperatorGrantsRevoked => {
                "Invigilator operator revoked every stored Google access after a suspected breach"
            }
            Self::OffboardingExported => "School's data exported for offboarding",
            Self::OffboardingConfirmed => {
                "Offboarding confirmed: the school's data is being deleted"
            }
            Self::OffboardingCancelled => "Offboarding cancelled: the school is active again",
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

    #[test]
    fn every_action_reads_back_from_its_text_and_has_its_own_label() {
        for action in Action::ALL {
            assert_eq!(Action::from_stored(action.as_str()), Some(action));
        }
        assert_eq!(Action::from_stored("no.such.action"), None);
        let mut labels: Vec<&str> = Action::ALL.iter().map(|a| a.label()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), Action::ALL.len());
    }
}
