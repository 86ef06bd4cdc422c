//! DogStatsD events and service checks travel in the flush batch of the window they arrived in.

use abacus_proto::v1::{event::Kind, FlushBatch};
use abacus_tests::AggregatorUnderTest;
use std::time::Duration;

fn events(batches: &[FlushBatch]) -> Vec<abacus_proto::v1::Event> {
    batches
        .iter()
        .flat_map(|batch| batch.events.clone())
        .collect()
}

#[tokio::test]
async fn events_and_service_checks_are_published_with_their_fields() -> anyhow::Result<()> {
    let aggregator = AggregatorUnderTest::start(Duration::from_secs(1), |_| {}).await?;
    let mut reader = aggregator.batch_reader().await?;
    let sent_after_ms = abacus_aggregator::flush::unix_now_ms();
    aggregator
        .send_statsd(
            "_e{6,4}:deploy|v1.2|d:1700000000|p:low|#service:web,canary\n\
             not an event\n\
             _sc|db.up|1|h:db1|m:replica lagging",
        )
        .await?;
    let batches = reader
        .wait_for("both events", |batches| events(batches).len() >= 2)
        .await?;
    let events = events(&batches);
    assert_eq!(events.len(), 2, "{events:?}");

    let deploy = &events[0];
    assert_eq!(deploy.kind(), Kind::Event);
    assert_eq!(
        (deploy.title.as_str(), deploy.text.as_str()),
        ("deploy", "v1.2")
    );
    assert_eq!(deploy.timestamp_unix_ms, 1_700_000_000_000, "its own d:");
    assert_eq!(deploy.priority, "low");
    let tags: Vec<(&str, &str)> = deploy
        .tags
        .iter()
        .map(|tag| (tag.key.as_str(), tag.value.as_str()))
        .collect();
    assert_eq!(tags, vec![("canary", ""), ("service", "web")]);

    let check = &events[1];
    assert_eq!(check.kind(), Kind::ServiceCheck);
    assert_eq!(
        (
            check.title.as_str(),
            check.text.as_str(),
            check.host.as_str()
        ),
        ("db.up", "replica lagging", "db1")
    );
    assert_eq!(check.service_check_status, 1);
    assert!(
        check.timestamp_unix_ms >= sent_after_ms,
        "without d: a check is stamped when received: {} < {sent_after_ms}",
        check.timestamp_unix_ms
    );
    aggregator.stop().await
}
