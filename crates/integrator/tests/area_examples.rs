//! The example flow of each area (examples/tweets.xml, users.xml,
//! lists.xml, direct-messages.xml, media.xml) through the `integrator`
//! binary against the sandbox, and uploadMedia's `media_file` read from the
//! operator's media directory only.

mod support;

use support::*;

fn sandboxed(file: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["run", "--sandbox", file];
    args.extend_from_slice(extra);
    let o = run(&args, &[]);
    assert!(o.status.success(), "{file}: {}", stderr(&o));
    let v = stdout_json(&o);
    assert!(v.get("error").is_none(), "{file}: {v}");
    v
}

#[test]
fn each_area_s_example_runs_against_the_sandbox() {
    let t = sandboxed("examples/tweets.xml", &[]);
    assert!(t["found"].as_u64().unwrap() >= 1, "{t}");
    assert_eq!(
        (
            t["liked"].as_bool(),
            t["unliked"].as_bool(),
            t["reposted"].as_bool()
        ),
        (Some(true), Some(false), Some(true))
    );
    assert_eq!(t["likes"], 1);
    assert_eq!(t["mentions"], 1);
    assert_eq!(t["home"]["pages"], 2, "one post a page, two posts: {t}");
    assert_eq!(t["cost"]["items"][0]["unit"], "Posts: Read");

    let u = sandboxed("examples/users.xml", &[]);
    assert_eq!(u["user"], "user_6");
    assert_eq!(
        (u["followers"].as_u64(), u["pages"].as_u64()),
        (Some(25), Some(3))
    );
    assert_eq!(
        (u["followed"].as_bool(), u["unfollowed"].as_bool()),
        (Some(true), Some(false))
    );
    assert_eq!(
        (u["mutes"].as_u64(), u["unmuted"].as_bool()),
        (Some(1), Some(false))
    );

    let l = sandboxed("examples/lists.xml", &[]);
    assert_eq!(l["list"]["name"], "connector demo, renamed");
    assert_eq!(l["list"]["private"], true);
    assert_eq!(l["deleted"], true);
    assert_eq!(
        (l["following"].as_u64(), l["memberships"].as_u64()),
        (Some(2), Some(3))
    );

    let d = sandboxed("examples/direct-messages.xml", &[]);
    assert_eq!(d["latest"], "And a second message");
    assert!(d["conversation"].as_str().unwrap().contains('-'));

    let m = sandboxed("examples/media.xml", &[]);
    assert!(m["media_id"]
        .as_str()
        .unwrap()
        .chars()
        .all(|c| c.is_ascii_digit()));
    assert!(m["post"].as_str().is_some_and(|p| !p.is_empty()), "{m}");
    assert_eq!(m["upload_cost"]["items"][0]["unit"], "Content: Manage");
}

#[test]
fn media_files_come_only_from_the_operator_s_directory() {
    let dir = tempdir();
    let media = dir.join("media");
    std::fs::create_dir_all(&media).unwrap();
    let mut gif = b"GIF89a".to_vec();
    gif.resize(1_500_000, 7);
    std::fs::write(media.join("clip.gif"), &gif).unwrap();
    std::fs::write(dir.join("outside.png"), b"\x89PNG\r\n\x1a\n").unwrap();
    std::os::unix::fs::symlink(dir.join("outside.png"), media.join("link.png")).unwrap();
    let media_dir = media.to_str().unwrap();

    let ok = sandboxed(
        "examples/media.xml",
        &[
            "--sequence",
            "from_file",
            "--var",
            "file=clip.gif",
            "--media-dir",
            media_dir,
        ],
    );
    assert_eq!(ok["size"], gif.len());

    for (file, why) in [
        ("../outside.png", "without `..`"),
        ("link.png", "out of the media directory"),
        ("/etc/passwd", "without `..` or a leading `/`"),
    ] {
        let o = run(
            &[
                "run",
                "--sandbox",
                "examples/media.xml",
                "--sequence",
                "from_file",
                "--var",
                &format!("file={file}"),
                "--media-dir",
                media_dir,
            ],
            &[],
        );
        let v = stdout_json(&o);
        assert_eq!(v["error"]["kind"], "invalid-input", "{file}: {v}");
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("media_file") && message.contains(why),
            "{file}: {message}"
        );
    }
    // Without a directory allowed, no file is read at all.
    let o = run(
        &[
            "run",
            "--sandbox",
            "examples/media.xml",
            "--sequence",
            "from_file",
            "--var",
            "file=clip.gif",
        ],
        &[],
    );
    let v = stdout_json(&o);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--media-dir"),
        "{v}"
    );
}

#[test]
fn the_sandbox_keeps_x_s_reply_rule_unless_enterprise() {
    let dir = tempdir();
    let flow = dir.join("reply.xml");
    std::fs::write(
        &flow,
        r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
    <sequence name="main" onError="fault">
        <twitter.init><clientId>c</clientId></twitter.init>
        <twitter.createTweet>
            <text>a reply</text>
            <reply>{"in_reply_to_tweet_id": "1860000000000000002"}</reply>
            <responseVariable>post</responseVariable>
        </twitter.createTweet>
        <payloadFactory media-type="json"><format>{"id": "${vars.post.payload.data.id}"}</format></payloadFactory>
    </sequence>
    <sequence name="fault">
        <payloadFactory media-type="json"><format>{"error": ${vars.error}}</format></payloadFactory>
    </sequence>
</definitions>"#,
    )
    .unwrap();
    let flow = flow.to_str().unwrap();
    let refused = stdout_json(&run(&["run", "--sandbox", flow], &[]));
    assert_eq!(refused["error"]["kind"], "forbidden", "{refused}");
    assert!(
        refused["error"]["problem"]["hint"]
            .as_str()
            .unwrap()
            .contains("2026-02-23"),
        "{refused}"
    );
    let o = run(&["run", "--sandbox", "--sandbox-enterprise", flow], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout_json(&o)["id"]
        .as_str()
        .is_some_and(|id| !id.is_empty()));
}

#[test]
fn the_examples_check() {
    // One project each: every example defines its own `main`.
    for file in ["tweets", "users", "lists", "direct-messages", "media"] {
        let o = run(&["check", &format!("examples/{file}.xml")], &[]);
        assert!(o.status.success(), "{file}: {}", stderr(&o));
    }
}

#[test]
fn every_operation_counts_against_the_connection_s_budget() {
    let dir = tempdir();
    let flow = dir.join("likes.xml");
    // $0.05 a day: three likes at $0.015 fit, the fourth would pass it.
    std::fs::write(
        &flow,
        r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
    <sequence name="main" onError="fault">
        <twitter.init><clientId>c</clientId><maxSpendPerDay>0.05</maxSpendPerDay></twitter.init>
        <twitter.likeTweet><user_id>1564781240977719296</user_id><tweet_id>1860000000000000001</tweet_id></twitter.likeTweet>
        <twitter.unlikeTweet><user_id>1564781240977719296</user_id><tweet_id>1860000000000000001</tweet_id></twitter.unlikeTweet>
        <twitter.likeTweet><user_id>1564781240977719296</user_id><tweet_id>1860000000000000002</tweet_id></twitter.likeTweet>
        <twitter.likeTweet><user_id>1564781240977719296</user_id><tweet_id>1860000000000000001</tweet_id></twitter.likeTweet>
        <payloadFactory media-type="json"><format>{"done": true}</format></payloadFactory>
    </sequence>
    <sequence name="fault">
        <payloadFactory media-type="json"><format>{"error": ${vars.error}}</format></payloadFactory>
    </sequence>
</definitions>"#,
    )
    .unwrap();
    // like 0.015 + unlike 0.010 + like 0.015 = 0.040; a third like would make 0.055.
    let v = stdout_json(&run(&["run", "--sandbox", flow.to_str().unwrap()], &[]));
    assert_eq!(v["error"]["kind"], "budget-exceeded", "{v}");
}
