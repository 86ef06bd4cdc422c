//! Lines that used to stop all storage, sent the way a careless client sends them (statsd and
//! Graphite over UDP, each beside good counters in the same datagram): the aggregator refuses
//! each as a bad line, the good counters of the same window are stored exactly, and the
//! pipeline goes on storing afterwards.

use abacus_tests::{
    send_datagram, start_aggregator_with_addresses, total, Pipeline, PipelineSettings,
};
use std::time::Duration;

const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

#[tokio::test]
async fn poison_lines_are_refused_and_the_good_lines_beside_them_stored_exactly(
) -> anyhow::Result<()> {
    let settings = PipelineSettings::new(FLUSH_INTERVAL).await?;
    let (addresses, aggregator) =
        start_aggregator_with_addresses(settings.aggregator_config(), None).await?;
    let pipeline =
        Pipeline::start_with_aggregator(settings, addresses.statsd_udp, Some(aggregator)).await?;

    // 10,000 flags: short enough to fit in one datagram with the rest.
    let many_tags: Vec<String> = (0..10_000).map(|index| index.to_string()).collect();
    let statsd_poison = [
        "nul.tag:1|c|#env:pr\0d".to_owned(),
        format!("{}:1|c", "x".repeat(60_000)),
        format!("many.tags:1|c|#{}", many_tags.join(",")),
        "ids:us\0er|s".to_owned(),
        "_e{6,4}:dep\0oy|text".to_owned(),
        "_e{6,4}:deploy|text|d:99999999999999".to_owned(),
    ];
    // Twelve good counters, two beside each poison line, in the same datagram.
    for (index, poison) in statsd_poison.iter().enumerate() {
        let datagram = format!(
            "poison.good:1|c\n{poison}\npoison.tagged:1|c|#line:{index}\npoison.tagged:1|c|#line:{index}"
        );
        send_datagram(addresses.statsd_udp, &datagram).await?;
    }
    for (poison, good) in [
        ("graphite\0path 1 -1", "graphite.good.a"),
        ("graphite.far 1 100000000000000", "graphite.good.b"),
    ] {
        send_datagram(addresses.graphite_udp, &format!("{poison}\n{good} 2 -1\n")).await?;
    }

    // `poison.good` once per datagram, and `poison.tagged` twice, with a tag `line`.
    let untagged = pipeline
        .wait_for_datapoints("poison.good", "the untagged good counters", |points| {
            total(points) >= 6.0
        })
        .await?;
    assert_eq!(total(&untagged), 6.0);
    let tagged = pipeline
        .wait_for_datapoints(
            "sumSeries(seriesByTag('name=poison.tagged'))",
            "the tagged good counters",
            |points| total(points) >= 12.0,
        )
        .await?;
    assert_eq!(total(&tagged), 12.0);
    let graphite = pipeline
        .wait_for_datapoints(
            "sumSeries(graphite.good.*)",
            "the good graphite points",
            |points| total(points) >= 4.0,
        )
        .await?;
    assert_eq!(total(&graphite), 4.0);

    // Nothing of the poison reached the catalog, and storing goes on.
    let mut database = pipeline.database_connection().await?;
    let names: Vec<String> = sqlx::query_scalar("select distinct name from series order by name")
        .fetch_all(&mut database)
        .await?;
    assert_eq!(
        names,
        [
            "graphite.good.a",
            "graphite.good.b",
            "poison.good",
            "poison.tagged"
        ]
    );
    pipeline.send_statsd("fresh.after.poison:5|c").await?;
    let fresh = pipeline
        .wait_for_datapoints(
            "fresh.after.poison",
            "a counter sent afterwards",
            |points| total(points) >= 5.0,
        )
        .await?;
    assert_eq!(total(&fresh), 5.0);
    pipeline.stop().await
}
