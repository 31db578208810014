//! WeChat's `TEMPLATESENDJOBFINISH` reports: they settle the delivery record of the template
//! message they name (`gateway_core::delivery::template`) and are never stored as a customer
//! message: they neither open nor touch the conversation or its clocks.

use gateway_core::NormalizedMessage;
use gateway_core::delivery::template::{self, FinishReport, Settled, TemplateSends};
use gateway_core::ports::PortError;

/// The finish report in `message`, if it is one (the normal path goes on otherwise).
pub fn report(message: &NormalizedMessage) -> Option<FinishReport> {
    template::finish_report(message)
}

/// Settles `report`, at the time the push arrived. `Err` when the record must be retried
/// (the acceptance is not recorded yet, or the table failed).
pub async fn settle(
    sends: &dyn TemplateSends,
    report: &FinishReport,
    received_at_ms: i64,
) -> Result<(), PortError> {
    let settled = template::settle(sends, report, received_at_ms).await?;
    let (outcome, reply_id) = match &settled {
        Settled::Updated { reply_id } => ("updated", reply_id.as_str()),
        Settled::AlreadySettled { reply_id } => ("already_settled", reply_id.as_str()),
        Settled::Unknown => ("unknown", ""),
        Settled::NotYetAccepted { reply_id } => ("not_yet_accepted", reply_id.as_str()),
    };
    tracing::info!(
        account = %report.account_id,
        msgid = %report.msgid,
        status = %report.status,
        reply_id,
        outcome,
        "template message finish report"
    );
    Ok(())
}
