//! Content blocks of a prompt (text and base64 images, as the Messages API takes them):
//! checked before they reach Claude Code.

use super::Error;
use base64::Engine;
use serde_json::Value;

/// Most blocks in one prompt.
const MAX_BLOCKS: usize = 100;

/// Image types the Messages API takes.
const IMAGE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

fn bad(i: usize, why: &str) -> Error {
    Error::new("bad_request", format!("`content[{i}]` {why}"))
}

/// Check the blocks; the error names the first bad one.
pub fn validate(blocks: &[Value]) -> Result<(), Error> {
    if blocks.is_empty() || blocks.len() > MAX_BLOCKS {
        return Err(Error::new(
            "bad_request",
            format!("`content` must hold 1 to {MAX_BLOCKS} blocks"),
        ));
    }
    for (i, b) in blocks.iter().enumerate() {
        match b["type"].as_str() {
            Some("text") if b["text"].as_str().is_some_and(|t| !t.contains('\0')) => {}
            Some("text") => return Err(bad(i, "is a text block without `text`")),
            Some("image") => {
                let src = &b["source"];
                if src["type"] != "base64" {
                    return Err(bad(i, "is an image whose `source.type` is not \"base64\""));
                }
                if !src["media_type"]
                    .as_str()
                    .is_some_and(|m| IMAGE_TYPES.contains(&m))
                {
                    return Err(bad(
                        i,
                        &format!(
                            "is an image whose `source.media_type` is not one of {IMAGE_TYPES:?}"
                        ),
                    ));
                }
                let data = src["data"].as_str().unwrap_or("");
                if data.is_empty()
                    || base64::engine::general_purpose::STANDARD
                        .decode(data)
                        .is_err()
                {
                    return Err(bad(i, "is an image whose `source.data` is not base64"));
                }
            }
            _ => return Err(bad(i, "is not a text or image block")),
        }
    }
    Ok(())
}

/// What the history keeps of a prompt with blocks: its text, and a mark per image.
pub fn history_text(prompt: &str, blocks: &[Value]) -> String {
    let mut parts: Vec<String> = Vec::new();
    if !prompt.is_empty() {
        parts.push(prompt.to_string());
    }
    for b in blocks {
        match b["type"].as_str() {
            Some("text") => parts.push(b["text"].as_str().unwrap_or("").to_string()),
            _ => parts.push("[image]".into()),
        }
    }
    parts.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn blocks_are_checked_one_by_one() {
        let img = |mt: &str, data: &str| json!({"type": "image", "source": {"type": "base64", "media_type": mt, "data": data}});
        let ok = [
            json!({"type": "text", "text": "look"}),
            img("image/png", "aGVsbG8="),
        ];
        assert!(validate(&ok).is_ok());
        assert_eq!(history_text("p", &ok), "p\nlook\n[image]");
        for bad in [
            vec![],
            vec![img("image/bmp", "aGVsbG8=")],
            vec![img("image/png", "not base64!")],
            vec![json!({"type": "document"})],
            vec![json!({"type": "text"})],
        ] {
            assert!(validate(&bad).is_err(), "{bad:?}");
        }
    }
}
