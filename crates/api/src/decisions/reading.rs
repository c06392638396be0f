//! A batch read in one pass over its text, for the shape callers send: `{"requests": [{...}, ...]}` whose objects
//! hold the known fields once each, as strings (or `null` for the optional ones) without an escape. Each string is
//! borrowed where it stands; nothing is built but the list. Anything else (an escape or a control character in a
//! string, an unknown or repeated field, a value of another type, a syntax error) is left to serde, which reads it
//! or refuses it and names the fault.
//!
//! **Invariant:** what this reads is what serde reads from the same text (a property test holds it to serde's
//! reading of every text it takes).

use std::borrow::Cow;

use super::Asked;

/// The requests of `body`, or `None` when serde is to read it.
pub(super) fn requests(body: &str) -> Option<Vec<Asked<'_>>> {
    let mut text = Text { body, at: 0 };
    text.expect(b'{')?;
    if text.string()? != "requests" {
        return None;
    }
    text.expect(b':')?;
    text.expect(b'[')?;
    // Room for as many requests as the body could hold (the shortest takes some 30 bytes), up to one past the
    // most a call may ask about (the caller refuses more).
    let mut requests = Vec::with_capacity((body.len() / 32).min(super::MAX_REQUESTS + 1));
    if !text.take(b']') {
        loop {
            requests.push(text.asked()?);
            match text.next()? {
                b',' => continue,
                b']' => break,
                _ => return None,
            }
        }
    }
    text.expect(b'}')?;
    text.skip_space();
    text.rest().is_empty().then_some(requests)
}

/// The body, read from `at` on.
struct Text<'b> {
    body: &'b str,
    at: usize,
}

impl<'b> Text<'b> {
    fn rest(&self) -> &'b [u8] {
        self.body.as_bytes().get(self.at..).unwrap_or_default()
    }

    /// Steps over JSON's whitespace.
    fn skip_space(&mut self) {
        let space = self.rest().iter().take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r')).count();
        self.at += space;
    }

    /// The next byte past whitespace, taken.
    fn next(&mut self) -> Option<u8> {
        self.skip_space();
        let b = *self.rest().first()?;
        self.at += 1;
        Some(b)
    }

    /// Takes `b` when it comes next (past whitespace).
    fn take(&mut self, b: u8) -> bool {
        self.skip_space();
        let next = self.rest().first() == Some(&b);
        self.at += usize::from(next);
        next
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        self.take(b).then_some(())
    }

    /// A string without an escape or a control character, borrowed from the body.
    fn string(&mut self) -> Option<&'b str> {
        self.expect(b'"')?;
        // The first byte that ends it or that JSON escapes: its closing quote, or what serde is to read.
        let rest = self.rest();
        let len = super::first_to_escape(rest)?;
        if *rest.get(len)? != b'"' {
            return None;
        }
        let start = self.at;
        self.at += len + 1;
        // The bounds are at ASCII quotes, so on character boundaries.
        self.body.get(start..start + len)
    }

    /// A field's name: one of the known names told by its first byte and checked whole, quote included (no scan
    /// for the string's end); any other string as [`Text::string`] reads it.
    fn key(&mut self) -> Option<&'b str> {
        const KNOWN: [&str; 6] = ["credential", "channel", "username", "sudo", "method", "path"];
        self.skip_space();
        let rest = self.rest();
        let name = match rest.get(1)? {
            b'c' if rest.get(2) == Some(&b'r') => KNOWN[0],
            b'c' => KNOWN[1],
            b'u' => KNOWN[2],
            b's' => KNOWN[3],
            b'm' => KNOWN[4],
            b'p' => KNOWN[5],
            _ => return self.string(),
        };
        let whole = rest.first() == Some(&b'"')
            && rest.get(1..=name.len()) == Some(name.as_bytes())
            && rest.get(name.len() + 1) == Some(&b'"');
        if !whole {
            return self.string();
        }
        self.at += name.len() + 2;
        Some(name)
    }

    /// A string, or `null`.
    fn optional(&mut self) -> Option<Option<Cow<'b, str>>> {
        self.skip_space();
        if self.rest().starts_with(b"null") {
            self.at += 4;
            return Some(None);
        }
        self.string().map(|text| Some(Cow::Borrowed(text)))
    }

    /// One request's object.
    fn asked(&mut self) -> Option<Asked<'b>> {
        self.expect(b'{')?;
        let (mut credential, mut channel, mut username, mut sudo) = (None, None, None, None);
        let (mut method, mut path) = (None, None);
        // Which fields were read: a second one is serde's to refuse.
        let mut seen = 0u8;
        if !self.take(b'}') {
            loop {
                let key = self.key()?;
                self.expect(b':')?;
                let bit = match key {
                    "credential" => {
                        credential = self.optional()?;
                        1
                    }
                    "channel" => {
                        channel = self.optional()?;
                        2
                    }
                    "username" => {
                        username = self.optional()?;
                        4
                    }
                    "sudo" => {
                        sudo = self.optional()?;
                        8
                    }
                    "method" => {
                        method = Some(Cow::Borrowed(self.string()?));
                        16
                    }
                    "path" => {
                        path = Some(Cow::Borrowed(self.string()?));
                        32
                    }
                    _ => return None,
                };
                if seen & bit != 0 {
                    return None;
                }
                seen |= bit;
                match self.next()? {
                    b',' => continue,
                    b'}' => break,
                    _ => return None,
                }
            }
        }
        Some(Asked { credential, channel, username, method: method?, path: path?, sudo })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn by_serde(body: &str) -> Result<Vec<Asked<'_>>, serde_json::Error> {
        serde_json::from_str::<super::super::Batch<'_>>(body).map(|batch| batch.requests)
    }

    #[test]
    fn the_batches_callers_send_are_read_in_one_pass_as_serde_reads_them() {
        let token = "glpat-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH.01.0w1c2d3e4";
        for body in [
            format!(
                r#"{{"requests":[{{"credential":"{token}","method":"POST","path":"/api/v4/projects/g%2Fp/issues"}}]}}"#
            ),
            format!(
                "{{\n  \"requests\": [\n    {{\"method\": \"GET\", \"path\": \"/api/v4/user\", \"credential\": null}},\n    \
                 {{\"path\": \"/x\", \"method\": \"GET\", \"credential\": \"{token}\", \"channel\": \"Basic\", \"username\": \
                 \"caf\u{e9}\", \"sudo\": \"root\"}}\n  ]\n}}\n"
            ),
            r#"{"requests":[]}"#.to_owned(),
        ] {
            assert_eq!(requests(&body), Some(by_serde(&body).unwrap()), "{body}");
        }
    }

    #[test]
    fn what_serde_would_refuse_or_must_decode_is_left_to_it() {
        for body in [
            r#"{"requests":[{"method":"GET","path":"/a\/b"}]}"#,
            r#"{"requests":[{"method":"GET","path":"/a","path":"/b"}]}"#,
            r#"{"requests":[{"method":"GET","path":"/a","extra":1}]}"#,
            r#"{"requests":[{"method":"GET"}]}"#,
            r#"{"requests":[{"method":null,"path":"/"}]}"#,
            r#"{"requests":[{"method":"GET","path":"/"}],"requests":[]}"#,
            r#"{"requests":[{"method":"GET","path":"/"},]}"#,
            r#"{"requests":[{"method":"GET","path":"/"}]} x"#,
            r#"{"requests":[{"method":"GET","path":"/","sudo":nul}]}"#,
            "{\"requests\":[{\"method\":\"GET\",\"path\":\"/\t\"}]}",
            r#"{"requests":[{"method":"GET","path":"/"}]"#,
        ] {
            assert_eq!(requests(body), None, "{body}");
        }
    }

    /// A JSON text of a batch, its parts in any order and spacing: known fields or not, once or twice, strings
    /// with or without escapes, `null`s, numbers.
    fn batch_text() -> impl Strategy<Value = String> {
        let key = prop::sample::select(vec![
            "credential",
            "channel",
            "username",
            "sudo",
            "method",
            "path",
            "other",
            "credentials",
            "chan",
            "pat",
            "c",
            "",
        ]);
        let value = prop_oneof![
            4 => "[a-z/%é\"\\\\\t]{0,6}".prop_map(|s| serde_json::to_string(&s).unwrap_or_default()),
            1 => Just("null".to_owned()),
            1 => Just("7".to_owned()),
        ];
        let space = prop::sample::select(vec!["", "", " ", "\n  ", "\t"]);
        let pair = (key, space.clone(), value, space.clone()).prop_map(|(k, s, v, t)| format!("\"{k}\"{s}:{t}{v}"));
        let object = prop::collection::vec(pair, 0..8).prop_map(|pairs| format!("{{{}}}", pairs.join(",")));
        (prop::collection::vec(object, 0..4), space.clone(), space)
            .prop_map(|(objects, s, t)| format!("{s}{{\"requests\":{t}[{}]}}{s}", objects.join(&format!(",{t}"))))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        #[test]
        fn what_the_one_pass_reader_takes_serde_reads_the_same(body in batch_text()) {
            if let Some(read) = requests(&body) {
                prop_assert_eq!(Ok(read), by_serde(&body).map_err(|e| e.to_string()), "{}", body);
            }
        }

        #[test]
        fn a_batch_of_known_fields_once_each_and_plain_strings_is_read_in_one_pass(
            fields in prop::collection::vec(
                (prop::sample::subsequence(vec!["credential", "channel", "username", "sudo"], 0..=4),
                 "[a-zA-Z0-9/%._~é-]{0,12}", any::<bool>()),
                0..5,
            ),
        ) {
            let objects: Vec<String> = fields
                .iter()
                .map(|(optional, text, nulls)| {
                    let value = if *nulls { "null".to_owned() } else { format!("\"{text}\"") };
                    let mut pairs: Vec<String> = optional.iter().map(|k| format!("\"{k}\": {value}")).collect();
                    pairs.push(format!("\"path\": \"/{text}\""));
                    pairs.insert(pairs.len() / 2, "\"method\": \"GET\"".to_owned());
                    format!("{{{}}}", pairs.join(", "))
                })
                .collect();
            let body = format!("{{\"requests\": [{}]}}", objects.join(", "));
            prop_assert_eq!(requests(&body), Some(by_serde(&body).unwrap()), "{}", body);
        }
    }
}
