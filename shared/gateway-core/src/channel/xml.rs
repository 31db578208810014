//! The hardened XML reader (plus two small writer helpers) shared by the WeChat protocol and
//! Weibo's WeChat-compatible XML format.
//!
//! Both platforms push flat `<xml>…</xml>` documents whose leaves carry text or CDATA. The
//! reader faces attacker-controlled input (plaintext mode is unauthenticated, and secure mode
//! must parse the envelope before it can check `msg_signature`), so it:
//!
//! * refuses any DTD or entity declaration ([`reject_dtd`]) before the parser runs;
//! * refuses processing instructions other than a leading XML declaration;
//! * resolves only the five predefined entities (`&lt;` `&gt;` `&amp;` `&apos;` `&quot;`) and
//!   numeric character references; any other entity reference is an error;
//! * ignores attributes (they are never read, so never expanded);
//! * caps the element depth ([`MAX_DEPTH`]) and the element count ([`MAX_ELEMENTS`]);
//! * reports syntax errors as [`WebhookError::MalformedBody`] with a short, fixed reason and a
//!   byte offset, never with text taken from the body.
//!
//! Pure: no I/O.

use crate::channel::{WebhookError, reject_dtd};
use quick_xml::Reader;
use quick_xml::errors::{Error as XmlError, IllFormedError};
use quick_xml::events::Event;

/// Deepest accepted element nesting; the root `<xml>` element is depth 1.
pub const MAX_DEPTH: usize = 8;

/// Most elements accepted in one document, the root included.
pub const MAX_ELEMENTS: usize = 256;

/// One leaf element of a document: its path below the root and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlField {
    /// Element names from the root's child down to the leaf, joined with `/`
    /// (`ToUserName`, `ScanCodeInfo/ScanType`, `SendPicsInfo/PicList/item/PicMd5Sum`).
    pub path: String,
    /// The leaf's text: text and CDATA sections concatenated, entities resolved, XML 1.0
    /// line ends normalized, otherwise untouched (not trimmed).
    pub value: String,
}

/// The leaves of a parsed `<xml>` document, in document order.
///
/// Only leaf elements (elements without child elements) are recorded; container elements are
/// addressed through their leaves' paths. A path may occur several times (list items).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XmlDoc {
    fields: Vec<XmlField>,
}

impl XmlDoc {
    /// The text of the first leaf at `path`.
    pub fn get(&self, path: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|f| f.path == path)
            .map(|f| f.value.as_str())
    }

    /// The text of the first leaf at `path`, when it is present and not empty or whitespace.
    pub fn non_empty(&self, path: &str) -> Option<&str> {
        self.get(path).filter(|v| !v.trim().is_empty())
    }

    /// The text of every leaf at `path`, in document order.
    pub fn get_all<'a>(&'a self, path: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .filter(move |f| f.path == path)
            .map(|f| f.value.as_str())
    }

    /// True when at least one leaf has this path.
    pub fn contains(&self, path: &str) -> bool {
        self.fields.iter().any(|f| f.path == path)
    }

    /// Every leaf, in document order.
    pub fn fields(&self) -> &[XmlField] {
        &self.fields
    }

    /// Number of leaves.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True when the root element has no leaves.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

struct Frame {
    name: String,
    text: String,
    has_children: bool,
}

fn malformed(reason: &str) -> WebhookError {
    WebhookError::MalformedBody(reason.to_string())
}

/// Maps a quick-xml error to a short reason that never contains text from the body.
fn syntax_error(err: &XmlError, position: u64) -> WebhookError {
    let what = match err {
        XmlError::Syntax(e) => match e {
            quick_xml::errors::SyntaxError::InvalidBangMarkup => "invalid <! markup",
            quick_xml::errors::SyntaxError::UnclosedPIOrXmlDecl => "unclosed <? markup",
            quick_xml::errors::SyntaxError::UnclosedComment => "unclosed comment",
            quick_xml::errors::SyntaxError::UnclosedDoctype => "unclosed doctype",
            quick_xml::errors::SyntaxError::UnclosedCData => "unclosed CDATA section",
            quick_xml::errors::SyntaxError::UnclosedTag => "unclosed tag",
        },
        XmlError::IllFormed(e) => match e {
            IllFormedError::MismatchedEndTag { .. } => "mismatched end tag",
            IllFormedError::UnmatchedEndTag(_) => "end tag without start tag",
            IllFormedError::MissingEndTag(_) => "missing end tag",
            IllFormedError::DoubleHyphenInComment => "`--` inside a comment",
            IllFormedError::UnclosedReference => "unclosed reference",
            IllFormedError::MissingDeclVersion(_) => "XML declaration without version",
            IllFormedError::MissingDoctypeName => "doctype without name",
        },
        XmlError::Encoding(_) => "not valid UTF-8",
        XmlError::Escape(_) => "invalid character reference",
        XmlError::InvalidAttr(_) => "invalid attribute",
        XmlError::Namespace(_) => "invalid namespace",
        XmlError::Io(_) => "read error",
    };
    WebhookError::MalformedBody(format!("{what} at byte {position}"))
}

/// Resolves a general reference (`&name;`): the five predefined entities and numeric
/// character references only.
fn resolve_reference(reference: &quick_xml::events::BytesRef<'_>) -> Result<char, WebhookError> {
    if reference.is_char_ref() {
        return match reference.resolve_char_ref() {
            Ok(Some(c)) => Ok(c),
            _ => Err(malformed("invalid character reference")),
        };
    }
    match reference.as_ref() {
        b"lt" => Ok('<'),
        b"gt" => Ok('>'),
        b"amp" => Ok('&'),
        b"apos" => Ok('\''),
        b"quot" => Ok('"'),
        _ => Err(malformed("undeclared entity reference")),
    }
}

fn utf8<'a>(bytes: &'a [u8], what: &str) -> Result<&'a str, WebhookError> {
    std::str::from_utf8(bytes)
        .map_err(|_| WebhookError::MalformedBody(format!("{what} is not valid UTF-8")))
}

/// Parses a `<xml>…</xml>` document into its leaves.
///
/// Errors: [`WebhookError::DoctypeForbidden`] for a DTD or entity declaration, otherwise
/// [`WebhookError::MalformedBody`] (syntax, non-UTF-8, a root other than `<xml>`, text outside
/// the root, processing instructions, undeclared entities, depth or element count over the
/// caps).
pub fn parse_fields(body: &[u8]) -> Result<XmlDoc, WebhookError> {
    reject_dtd(body)?;
    let mut reader = Reader::from_reader(body);
    {
        let config = reader.config_mut();
        config.check_end_names = true;
        config.check_comments = true;
        config.expand_empty_elements = false;
        config.allow_unmatched_ends = false;
        config.allow_dangling_amp = false;
        config.trim_text(false);
    }

    let mut stack: Vec<Frame> = Vec::new();
    let mut fields: Vec<XmlField> = Vec::new();
    let mut elements = 0usize;
    let mut root_seen = false;
    let mut prolog_seen = false;

    loop {
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(err) => return Err(syntax_error(&err, reader.error_position())),
        };
        match event {
            Event::Decl(_) => {
                if prolog_seen || root_seen {
                    return Err(malformed("misplaced XML declaration"));
                }
                prolog_seen = true;
            }
            Event::PI(_) => return Err(malformed("processing instructions are not accepted")),
            Event::DocType(_) => return Err(WebhookError::DoctypeForbidden),
            Event::Comment(_) => prolog_seen = true,
            Event::Start(start) => {
                let name = utf8(start.name().as_ref(), "element name")?.to_string();
                open(&mut stack, &mut elements, &mut root_seen, name)?;
                prolog_seen = true;
            }
            Event::Empty(start) => {
                let name = utf8(start.name().as_ref(), "element name")?.to_string();
                open(&mut stack, &mut elements, &mut root_seen, name)?;
                close(&mut stack, &mut fields)?;
                prolog_seen = true;
            }
            Event::End(_) => close(&mut stack, &mut fields)?,
            Event::Text(text) => {
                let content = text
                    .xml10_content()
                    .map_err(|_| malformed("text is not valid UTF-8"))?;
                append(&mut stack, &content)?;
                prolog_seen = true;
            }
            Event::CData(cdata) => {
                let content = cdata
                    .xml10_content()
                    .map_err(|_| malformed("CDATA is not valid UTF-8"))?;
                append(&mut stack, &content)?;
                prolog_seen = true;
            }
            Event::GeneralRef(reference) => {
                let c = resolve_reference(&reference)?;
                append(&mut stack, c.encode_utf8(&mut [0u8; 4]))?;
                prolog_seen = true;
            }
            Event::Eof => break,
        }
    }

    if !stack.is_empty() {
        return Err(malformed("unclosed element at end of body"));
    }
    if !root_seen {
        return Err(malformed("no root element"));
    }
    Ok(XmlDoc { fields })
}

fn open(
    stack: &mut Vec<Frame>,
    elements: &mut usize,
    root_seen: &mut bool,
    name: String,
) -> Result<(), WebhookError> {
    if stack.is_empty() {
        if *root_seen {
            return Err(malformed("more than one root element"));
        }
        if name != "xml" {
            return Err(malformed("root element is not <xml>"));
        }
        *root_seen = true;
    }
    *elements += 1;
    if *elements > MAX_ELEMENTS {
        return Err(malformed("too many elements"));
    }
    if stack.len() >= MAX_DEPTH {
        return Err(malformed("elements nested too deeply"));
    }
    if let Some(parent) = stack.last_mut() {
        parent.has_children = true;
    }
    stack.push(Frame {
        name,
        text: String::new(),
        has_children: false,
    });
    Ok(())
}

fn close(stack: &mut Vec<Frame>, fields: &mut Vec<XmlField>) -> Result<(), WebhookError> {
    let frame = stack
        .pop()
        .ok_or_else(|| malformed("end tag without start tag"))?;
    // The root itself is not a field; below it, only leaves are.
    if !stack.is_empty() && !frame.has_children {
        // A child of the root (every field of a flat push) is its own path: no copy.
        let path = if stack.len() == 1 {
            frame.name
        } else {
            let mut path = String::new();
            for ancestor in stack.iter().skip(1) {
                path.push_str(&ancestor.name);
                path.push('/');
            }
            path.push_str(&frame.name);
            path
        };
        fields.push(XmlField {
            path,
            value: frame.text,
        });
    }
    Ok(())
}

fn append(stack: &mut [Frame], content: &str) -> Result<(), WebhookError> {
    match stack.last_mut() {
        Some(frame) => {
            frame.text.push_str(content);
            Ok(())
        }
        None if content.trim().is_empty() => Ok(()),
        None => Err(malformed("text outside the root element")),
    }
}

/// Writes `text` as one or more CDATA sections. A `]]>` inside the text is split across two
/// sections (`]]]]><![CDATA[>`), so any string survives a round trip through a reader.
pub fn cdata(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 12);
    out.push_str("<![CDATA[");
    out.push_str(&text.replace("]]>", "]]]]><![CDATA[>"));
    out.push_str("]]>");
    out
}

/// Escapes `text` for use as element content outside CDATA (`&`, `<`, `>`).
pub fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<XmlDoc, WebhookError> {
        parse_fields(s.as_bytes())
    }

    fn is_malformed(r: Result<XmlDoc, WebhookError>) -> bool {
        matches!(r, Err(WebhookError::MalformedBody(_)))
    }

    #[test]
    fn reads_text_cdata_and_nested_leaves_in_order() {
        let doc = parse(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<xml>\n  <ToUserName><![CDATA[gh_1]]></ToUserName>\n  \
             <CreateTime>1348831860</CreateTime>\n  <Content>a &amp; b &lt;c&gt; &#20320;&#x597D;</Content>\n  \
             <ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType><ScanResult>1</ScanResult></ScanCodeInfo>\n  \
             <SendPicsInfo><Count>2</Count><PicList><item><PicMd5Sum>aa</PicMd5Sum></item>\
             <item><PicMd5Sum>bb</PicMd5Sum></item></PicList></SendPicsInfo>\n  <Empty/>\n</xml>",
        )
        .expect("valid");
        assert_eq!(doc.get("ToUserName"), Some("gh_1"));
        assert_eq!(doc.get("CreateTime"), Some("1348831860"));
        assert_eq!(doc.get("Content"), Some("a & b <c> 你好"));
        assert_eq!(doc.get("ScanCodeInfo/ScanType"), Some("qrcode"));
        assert_eq!(doc.get("ScanCodeInfo"), None);
        assert_eq!(
            doc.get_all("SendPicsInfo/PicList/item/PicMd5Sum")
                .collect::<Vec<_>>(),
            ["aa", "bb"]
        );
        assert_eq!(doc.get("Empty"), Some(""));
        assert_eq!(doc.non_empty("Empty"), None);
        let paths: Vec<&str> = doc.fields().iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths[0], "ToUserName");
        assert_eq!(paths[1], "CreateTime");
        assert_eq!(doc.len(), 9);
    }

    #[test]
    fn cdata_split_round_trips_through_the_reader() {
        for s in ["a]]>b", "]]>", "]]]]>", "x]]", "plain", ""] {
            let xml = format!("<xml><C>{}</C></xml>", cdata(s));
            assert_eq!(parse(&xml).expect("valid").get("C"), Some(s), "{s}");
        }
        let xml = format!("<xml><C>{}</C></xml>", escape_text("a<b>&c"));
        assert_eq!(parse(&xml).expect("valid").get("C"), Some("a<b>&c"));
    }

    #[test]
    fn refuses_dtds_and_billion_laughs() {
        let lol = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">\
                   <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">]>\
                   <xml><Content>&lol2;</Content></xml>";
        assert_eq!(parse(lol), Err(WebhookError::DoctypeForbidden));
        assert_eq!(
            parse("<!doctype xml><xml/>"),
            Err(WebhookError::DoctypeForbidden)
        );
    }

    #[test]
    fn refuses_undeclared_entities_and_processing_instructions() {
        assert!(is_malformed(parse("<xml><C>&lol;</C></xml>")));
        assert!(is_malformed(parse("<xml><?php echo 1; ?><C/></xml>")));
        assert!(is_malformed(parse(
            "<?xml-stylesheet href=\"x\"?><xml><C/></xml>"
        )));
        assert!(is_malformed(parse(
            "<xml><C/></xml><?xml version=\"1.0\"?>"
        )));
    }

    #[test]
    fn refuses_malformed_documents_without_echoing_them() {
        for body in [
            "",
            "   ",
            "not xml",
            "<xml><C>secret-body-text</D></xml>",
            "<xml><C>secret-body-text</C>",
            "<xml><C>secret-body-text",
            "<xml></xml><xml></xml>",
            "<root><C/></root>",
            "<xml><C><![CDATA[secret-body-text</C></xml>",
            "<xml><C>a & b</C></xml>",
            "</xml>",
            "secret-body-text<xml/>",
            "<xml/>secret-body-text",
        ] {
            match parse(body) {
                Err(WebhookError::MalformedBody(reason)) => {
                    assert!(!reason.contains("secret"), "{reason}");
                    assert!(!reason.contains("root>"), "{reason}");
                }
                other => panic!("{body:?} gave {other:?}"),
            }
        }
        assert!(is_malformed(parse_fields(b"<xml><C>\xff\xfe</C></xml>")));
    }

    #[test]
    fn caps_depth_and_element_count() {
        let nest = |depth: usize| {
            let mut s = String::new();
            s.push_str("<xml>");
            for _ in 1..depth {
                s.push_str("<a>");
            }
            for _ in 1..depth {
                s.push_str("</a>");
            }
            s.push_str("</xml>");
            s
        };
        assert!(parse(&nest(MAX_DEPTH)).is_ok());
        assert!(is_malformed(parse(&nest(MAX_DEPTH + 1))));
        let many = |n: usize| format!("<xml>{}</xml>", "<a/>".repeat(n - 1));
        assert_eq!(
            parse(&many(MAX_ELEMENTS)).expect("at the cap").len(),
            MAX_ELEMENTS - 1
        );
        assert!(is_malformed(parse(&many(MAX_ELEMENTS + 1))));
    }

    #[test]
    fn edge_cases_of_the_prolog_references_and_attributes() {
        // A UTF-8 BOM before the declaration is accepted; anything else before it is not.
        let bom = parse_fields(b"\xEF\xBB\xBF<?xml version=\"1.0\"?><xml><A>1</A></xml>");
        assert_eq!(bom.expect("bom").get("A"), Some("1"));
        assert!(is_malformed(parse("\n<?xml version=\"1.0\"?><xml/>")));
        // Attributes are ignored, never expanded.
        let attrs = parse("<xml a=\"1\"><A x=\"&lol;\">1</A></xml>").expect("attrs");
        assert_eq!(
            attrs.fields(),
            &[XmlField {
                path: "A".into(),
                value: "1".into()
            }]
        );
        for body in [
            "<xml><A>1</A></xml",
            "<xml><A>&#0;</A></xml>",
            "<xml><A>&#xD800;</A></xml>",
            "<xml><A>a&amp</A></xml>",
            "<xml><A>a</A><!-- x",
        ] {
            assert!(is_malformed(parse(body)), "{body}");
        }
    }

    #[test]
    fn comments_and_whitespace_are_ignored() {
        let doc =
            parse("<!-- c --><xml>\r\n<!-- c --><A>x<!-- c -->y</A>\r\n</xml>\n").expect("ok");
        assert_eq!(doc.get("A"), Some("xy"));
        let doc = parse("<xml><A>line1\r\nline2</A></xml>").expect("ok");
        assert_eq!(doc.get("A"), Some("line1\nline2"));
    }
}
