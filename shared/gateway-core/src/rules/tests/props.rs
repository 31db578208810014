//! Property tests: evaluation and validation are total.

use super::shipped::{SHIPPED, shipped};
use super::*;
use proptest::prelude::*;

fn any_content() -> impl Strategy<Value = Content> {
    prop_oneof![
        any::<String>().prop_map(|text| Content::Text { text }),
        ".{0,3000}".prop_map(|text| Content::Text { text }),
        (any::<String>(), proptest::option::of(any::<String>())).prop_map(|(e, key)| {
            Content::Event {
                event: e.clone(),
                platform_event: e,
                key,
                detail: BTreeMap::new(),
            }
        }),
        any::<String>().prop_map(|text| Content::Mention {
            subtype: "status".into(),
            target_id: None,
            text,
            post: None,
        }),
        proptest::option::of(any::<String>()).prop_map(|recognition| Content::Voice {
            media_id: None,
            format: None,
            recognition,
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn evaluation_never_panics(
        content in any_content(),
        account in prop_oneof![Just("demo".to_string()), Just("brand".to_string()), any::<String>()],
        now_secs in -4_000_000_000i64..8_000_000_000i64,
        inbound in 0u64..5,
        last_fired in proptest::option::of(any::<i64>()),
        weibo in any::<bool>(),
    ) {
        let set = shipped();
        let channel = if weibo { Channel::Weibo } else { Channel::WeChat };
        let m = message(channel, &account, "u1", content);
        let mut c = conversation(&m, inbound);
        if let Some(t) = last_fired {
            c.rule_last_fired.insert("out-of-office".into(), t);
            c.rule_last_fired.insert("crisis-acknowledge".into(), t);
        }
        let now = DateTime::from_timestamp(now_secs, 0).unwrap_or_default();
        let d = evaluate(set, &m, Some(&c), now);
        let e = explain(set, &m, Some(&c), now);
        prop_assert_eq!(&e.decision, &d);
        let _ = e.to_string();
        d.apply_to(&mut c, now.timestamp_millis());
        let d0 = evaluate(set, &m, None, now);
        prop_assert!(d0.fired.len() <= set.rules().len());
    }

    #[test]
    fn long_texts_are_matched_in_bounded_time(
        filler in "[a-z价格 ]{0,64}",
        repeat in 0usize..2000,
    ) {
        let set = shipped();
        let m = text(&filler.repeat(repeat));
        let _ = evaluate(set, &m, None, working_morning());
    }

    #[test]
    fn validation_never_panics_on_arbitrary_text(text in any::<String>()) {
        let _ = RuleSet::from_yaml(&text);
    }

    #[test]
    fn validation_never_panics_on_damaged_documents(
        cut in 0usize..SHIPPED.len(),
        len in 0usize..40,
        insert in "[-:{}\\[\\]@&*!|>'\" \nA-Za-z0-9]{0,6}",
    ) {
        let mut start = cut;
        while !SHIPPED.is_char_boundary(start) { start -= 1; }
        let mut end = (start + len).min(SHIPPED.len());
        while !SHIPPED.is_char_boundary(end) { end -= 1; }
        let damaged = format!("{}{}{}", &SHIPPED[..start], insert, &SHIPPED[end..]);
        match RuleSet::from_yaml(&damaged) {
            Ok(_) => {}
            Err(e) => prop_assert!(!e.problems.is_empty()),
        }
    }
}
