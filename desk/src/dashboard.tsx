// The supervisor's dashboard: an account (and optionally a team) over a period — volumes,
// who waits now, human first-response times, SLA met, breaches, escalations, complaints by
// category per day, per team and per agent — as figures, plots and tables with CSV export.
// One /stats call per refresh.
import { useState } from "preact/hooks";
import { api, ApiError } from "./api";
import { TimeChart } from "./chart";
import { download, toCsv } from "./csv";
import { bucket, day, duration } from "./format";
import { t } from "./i18n";
import { usePoll } from "./poll";
import { isSupervisor, me } from "./state";

interface Figures {
  inbound: number;
  opened: number;
  resolved: number;
  escalations: number;
  sla_breaches: number;
  first_responses_met: number;
  first_responses_breached: number;
  sla_met_percent: number | null;
  first_response_time: { count: number; p50: string | null; p90: string | null };
  tags: Record<string, number>;
}

interface Stats {
  account: string;
  team?: string | null;
  report: { total?: Figures; teams?: Record<string, Figures> } & Partial<Figures>;
  live: { unanswered: number; oldest_wait_seconds: number | null };
  daily?: { day: string; inbound: number; opened: number; resolved: number; escalations: number; sla_breaches: number; tags: Record<string, number> }[];
  hourly_inbound?: { hour: string; inbound: number }[];
  agents?: Record<string, { first_responses: number; first_responses_met?: number; replies?: number; resolved?: number; first_response_time?: { p50: string | null; p90: string | null } }>;
}

function daysAgo(n: number): string {
  const d = new Date();
  d.setDate(d.getDate() - n);
  return day(d);
}

/** `wechat:demo` → `wechat-demo`: a name every system accepts for a file. */
const fileSafe = (s: string) => s.replace(/[^A-Za-z0-9_.-]/g, "-");

const percent = (v: number | null | undefined) => (v === null || v === undefined ? "–" : `${v.toFixed(1)}%`);

export function DashboardPage() {
  const accounts = (me.value?.profile?.accounts ?? []).filter((a) => a !== "*");
  const teams = me.value?.profile?.teams ?? [];
  // The choice is kept for the tab's session (a reload shows the same figures).
  const saved = JSON.parse(sessionStorage.getItem("desk.dashboard") ?? "{}");
  const [account, setAccount] = useState<string>(accounts.includes(saved.account) ? saved.account : (accounts[0] ?? ""));
  const [team, setTeam] = useState<string>(teams.includes(saved.team) ? saved.team : "");
  const [from, setFrom] = useState<string>(saved.from ?? daysAgo(6));
  const [to, setTo] = useState<string>(saved.to ?? daysAgo(0));
  sessionStorage.setItem("desk.dashboard", JSON.stringify({ account, team, from, to }));
  const [stats, setStats] = useState<Stats | null>(null);
  const [error, setError] = useState<string | null>(null);

  usePoll(
    async () => {
      if (!account) return;
      try {
        setStats(await api.stats({ account, team: team || undefined, from, to }));
        setError(null);
      } catch (e) {
        setError(e instanceof ApiError ? `${e.code}: ${e.message}` : String(e));
      }
    },
    15_000,
    [account, team, from, to],
  );

  if (!isSupervisor.value) return <p role="alert" class="error">{t("forbidden")}</p>;
  const total: Figures | undefined = stats ? (stats.report.total ?? (stats.report as Figures)) : undefined;
  const tagNames = total ? Object.entries(total.tags ?? {}).sort((a, b) => b[1] - a[1]).map(([k]) => k) : [];
  const daily = stats?.daily ?? [];
  const dayX = daily.map((d) => Date.parse(`${d.day}T00:00:00`) / 1000);
  const hourly = stats?.hourly_inbound ?? [];

  return (
    <div class="dashboard" data-testid="dashboard" data-shown={stats ? `${stats.account}|${stats.team ?? ""}` : ""}>
      <h1>{t("dashboard")}</h1>
      <form class="dash-tools" onSubmit={(e) => e.preventDefault()}>
        <label class="field">
          {t("account")}
          <select value={account} onChange={(e) => setAccount(e.currentTarget.value)} data-testid="dash-account">
            {accounts.map((a) => (
              <option key={a} value={a}>{a}</option>
            ))}
          </select>
        </label>
        <label class="field">
          {t("team")}
          <select value={team} onChange={(e) => setTeam(e.currentTarget.value)}>
            <option value="">{t("none")}</option>
            {teams.map((tm) => (
              <option key={tm} value={tm}>{tm}</option>
            ))}
          </select>
        </label>
        <fieldset class="period">
          <legend>{t("period")}</legend>
          <button type="button" onClick={() => { setFrom(daysAgo(6)); setTo(daysAgo(0)); }}>{t("last_7")}</button>
          <button type="button" onClick={() => { setFrom(daysAgo(29)); setTo(daysAgo(0)); }}>{t("last_30")}</button>
          <label class="field inline">{t("from")}<input type="date" value={from} max={to} onChange={(e) => setFrom(e.currentTarget.value)} /></label>
          <label class="field inline">{t("to")}<input type="date" value={to} min={from} onChange={(e) => setTo(e.currentTarget.value)} /></label>
        </fieldset>
      </form>
      {error && <p role="alert" class="error">{t("error_generic", { reason: error })}</p>}
      {!stats || !total ? (
        <p class="muted">{t("loading")}</p>
      ) : (
        <>
          <dl class="kpis">
            <Kpi id="inbound" label={t("kpi_inbound")} value={total.inbound} />
            <Kpi id="unanswered" label={t("kpi_unanswered_now")} value={stats.live.unanswered} />
            <Kpi id="oldest" label={t("kpi_oldest_wait")} value={stats.live.oldest_wait_seconds === null ? "–" : duration(stats.live.oldest_wait_seconds * 1000)} />
            <Kpi id="frt-p50" label={t("kpi_frt_p50")} value={bucket(total.first_response_time.p50)} />
            <Kpi id="frt-p90" label={t("kpi_frt_p90")} value={bucket(total.first_response_time.p90)} />
            <Kpi id="sla" label={t("kpi_sla_met")} value={percent(total.sla_met_percent)} />
            <Kpi id="breaches" label={t("kpi_breaches")} value={total.sla_breaches} />
            <Kpi id="escalations" label={t("kpi_escalations")} value={total.escalations} />
            <Kpi id="resolved" label={t("kpi_resolved")} value={total.resolved} />
          </dl>
          <div class="charts">
            {daily.length > 0 && (
              <TimeChart timeLabel={t("col_time")} title={t("chart_inbound_daily")} x={dayX} bars series={[{ label: t("col_inbound"), values: daily.map((d) => d.inbound) }]} />
            )}
            {hourly.length > 0 && (
              <TimeChart
                timeLabel={t("col_time")}
                title={t("chart_inbound_hourly")}
                x={hourly.map((h) => Date.parse(`${h.hour}:00:00`) / 1000)}
                series={[{ label: t("col_inbound"), values: hourly.map((h) => h.inbound) }]}
              />
            )}
            {daily.length > 0 && tagNames.length > 0 && (
              <TimeChart
                timeLabel={t("col_time")}
                title={t("chart_tags_daily")}
                x={dayX}
                series={tagNames.slice(0, 6).map((tag) => ({ label: tag, values: daily.map((d) => d.tags?.[tag] ?? 0) }))}
              />
            )}
          </div>
          <Table
            id="daily"
            title={t("table_daily")}
            file={`daily-${fileSafe(account)}-${from}-${to}.csv`}
            header={[t("col_day"), t("col_inbound"), t("col_opened"), t("col_resolved"), t("col_escalations"), t("col_breaches")]}
            rows={daily.map((d) => [d.day, d.inbound, d.opened, d.resolved, d.escalations, d.sla_breaches])}
          />
          {stats.report.teams && (
            <Table
              id="teams"
              title={t("table_teams")}
              file={`teams-${fileSafe(account)}-${from}-${to}.csv`}
              header={[t("col_team"), t("col_inbound"), t("col_resolved"), t("col_escalations"), t("col_breaches"), t("col_sla_met"), t("col_frt_p50"), t("col_frt_p90")]}
              rows={Object.entries(stats.report.teams).map(([name, f]) => [
                name, f.inbound, f.resolved, f.escalations, f.sla_breaches, percent(f.sla_met_percent),
                bucket(f.first_response_time.p50), bucket(f.first_response_time.p90),
              ])}
            />
          )}
          {stats.agents && (
            <Table
              id="agents"
              title={t("table_agents")}
              file={`agents-${fileSafe(account)}-${from}-${to}.csv`}
              header={[t("col_agent"), t("col_first_responses"), t("col_replies"), t("col_resolved"), t("col_frt_p50"), t("col_frt_p90")]}
              rows={Object.entries(stats.agents).map(([id, a]) => [
                id, a.first_responses, a.replies ?? "", a.resolved ?? "",
                bucket(a.first_response_time?.p50), bucket(a.first_response_time?.p90),
              ])}
            />
          )}
          <Table
            id="tags"
            title={t("table_tags")}
            file={`tags-${fileSafe(account)}-${from}-${to}.csv`}
            header={[t("col_tag"), t("col_count")]}
            rows={tagNames.map((tag) => [tag, total.tags[tag]])}
          />
        </>
      )}
    </div>
  );
}

function Kpi({ id, label, value }: { id: string; label: string; value: string | number }) {
  return (
    <div class="kpi" data-kpi={id}>
      <dt>{label}</dt>
      <dd data-testid={`kpi-${id}`}>{value}</dd>
    </div>
  );
}

function Table(props: { id: string; title: string; file: string; header: string[]; rows: (string | number)[][] }) {
  return (
    <section class="table-block" aria-labelledby={`t-${props.id}`}>
      <div class="table-head">
        <h2 id={`t-${props.id}`}>{props.title}</h2>
        <button type="button" data-testid={`csv-${props.id}`} onClick={() => download(props.file, toCsv(props.header, props.rows))}>
          {t("export_csv")}
        </button>
      </div>
      {props.rows.length === 0 ? (
        <p class="muted">{t("no_data")}</p>
      ) : (
        <div class="scroll">
          <table data-testid={`table-${props.id}`}>
            <thead>
              <tr>{props.header.map((h) => <th key={h} scope="col">{h}</th>)}</tr>
            </thead>
            <tbody>
              {props.rows.map((r, i) => (
                <tr key={i}>{r.map((c, j) => (j === 0 ? <th key={j} scope="row">{c}</th> : <td key={j}>{c}</td>))}</tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
