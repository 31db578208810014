//! Progress of a long run on stderr (the JSON result stays alone on stdout): every
//! `--progress-secs`, the pushes finished out of all with their pace and the time left at that
//! pace, then, once the pushes are done, the queues still draining.

use crate::pump::queue_depth;
use gateway_bench::{human_duration, progress_line};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// What the reporter watches.
pub struct Watch {
    pub every: Duration,
    pub total: usize,
    pub finished: Arc<AtomicUsize>,
    pub sqs: aws_sdk_sqs::Client,
    pub queues: Vec<(&'static str, String)>,
    pub stop: Arc<AtomicBool>,
}

/// Prints a line every `watch.every` until `watch.stop` is set.
pub async fn report(watch: Watch) {
    let start = Instant::now();
    let mut pushes_done_at = None;
    loop {
        let mut slept = Duration::ZERO;
        while slept < watch.every {
            if watch.stop.load(Ordering::SeqCst) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
            slept += Duration::from_millis(250);
        }
        let done = watch.finished.load(Ordering::SeqCst).min(watch.total);
        let mut depths = Vec::new();
        for (name, url) in &watch.queues {
            let depth = queue_depth(&watch.sqs, url)
                .await
                .map_or("?".to_string(), |d| d.to_string());
            depths.push(format!("{name} {depth}"));
        }
        let queued = depths.join(", ");
        if done < watch.total {
            let line = progress_line("pushes", done, watch.total, start.elapsed());
            eprintln!("progress: {line}; queued: {queued}");
        } else {
            let since = *pushes_done_at.get_or_insert_with(Instant::now);
            eprintln!(
                "progress: {} all {} pushes done; draining for {}, queued: {queued}",
                human_duration(start.elapsed()),
                watch.total,
                human_duration(since.elapsed()),
            );
        }
    }
}
