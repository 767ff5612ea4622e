//! Claude Code's startup dialogs, recognised on the screen and answered deterministically
//! (never by timed keystrokes): the folder trust check and the development-channels
//! warning. Anything else that looks like a choice fails the spawn with the screen text.

/// What to do about the screen of a child that is not ready yet.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing recognised yet: wait for more output.
    Wait,
    /// A known dialog: write these keys.
    Answer {
        dialog: &'static str,
        keys: &'static [u8],
    },
    /// A dialog we do not know: give up, with its text.
    Unknown,
}

const ENTER: &[u8] = b"\r";
const DOWN: &[u8] = b"\x1b[B";

/// The step for this screen text.
pub fn step(text: &str) -> Step {
    // 2.1.329: "Quick safety check: Is this a project you created or one you trust?", first
    // option "No, exit": move to "Yes, I trust this folder", then confirm. (Older releases
    // asked "Do you trust the files in this folder?" with "Yes, proceed" first.)
    if text.contains("Yes, I trust this folder") {
        let chosen = text
            .lines()
            .any(|l| l.trim_start().starts_with('❯') && l.contains("Yes, I trust this folder"));
        let keys = if chosen { ENTER } else { DOWN };
        return Step::Answer {
            dialog: "trust this folder",
            keys,
        };
    }
    if text.contains("Do you trust the files in this folder") && text.contains("Yes, proceed") {
        let chosen = text
            .lines()
            .any(|l| l.trim_start().starts_with('❯') && l.contains("Yes, proceed"));
        return Step::Answer {
            dialog: "trust the files in this folder",
            keys: if chosen { ENTER } else { DOWN },
        };
    }
    // The supervisor asked for the development channel itself; the first option loads it.
    if text.contains("Loading development channels") {
        return Step::Answer {
            dialog: "development channels",
            keys: ENTER,
        };
    }
    if text.contains("Enter to confirm") || text.contains("Esc to cancel") {
        return Step::Unknown;
    }
    Step::Wait
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_moves_to_yes_then_confirms_and_other_choices_are_unknown() {
        let no = " Quick safety check: Is this a project you created or one you trust?\n ❯ No, exit\n   Yes, I trust this folder\n Enter to confirm · Esc to cancel";
        assert_eq!(
            step(no),
            Step::Answer {
                dialog: "trust this folder",
                keys: DOWN
            }
        );
        let yes = no.replace("❯ No", "  No").replace("   Yes", " ❯ Yes");
        assert!(matches!(step(&yes), Step::Answer { keys, .. } if keys == ENTER));
        assert!(matches!(
            step("WARNING: Loading development channels\n ❯ 1. I am using this for local development"),
            Step::Answer { keys, .. } if keys == ENTER
        ));
        assert_eq!(
            step(" Pick a colour\n ❯ Red\n   Blue\n Enter to confirm · Esc to cancel"),
            Step::Unknown
        );
        assert_eq!(step(" ▐▛███▜▌   Claude Code v2.1.329"), Step::Wait);
    }
}
