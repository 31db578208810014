// Agent management (supervisors): each agent's teams, the accounts they serve and how many
// open conversations they hold at most. A supervisor grants only accounts they cover.
import { useEffect, useState } from "preact/hooks";
import { api, ApiError, type AgentProfile } from "./api";
import { t } from "./i18n";
import { isSupervisor, me } from "./state";

type Draft = Omit<AgentProfile, "updated_at">;

export function AgentsPage() {
  const [items, setItems] = useState<AgentProfile[] | null>(null);
  const [editing, setEditing] = useState<Draft | null>(null);
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const load = () =>
    api
      .agents()
      .then(setItems)
      .catch((e) => setMessage({ ok: false, text: e instanceof Error ? e.message : String(e) }));
  useEffect(() => {
    if (isSupervisor.value) load();
  }, []);
  if (!isSupervisor.value) return <p role="alert" class="error">{t("forbidden")}</p>;
  const mine = (me.value?.profile?.accounts ?? []).filter((a) => a !== "*");

  async function save(d: Draft) {
    try {
      await api.putAgent(d);
      setEditing(null);
      setMessage({ ok: true, text: t("saved") });
      await load();
    } catch (e) {
      setMessage({ ok: false, text: t("action_failed", { reason: e instanceof ApiError ? `${e.code}: ${e.message}` : String(e) }) });
    }
  }
  async function remove(id: string) {
    if (!confirm(t("delete_confirm", { id }))) return;
    try {
      await api.deleteAgent(id);
      await load();
    } catch (e) {
      setMessage({ ok: false, text: t("action_failed", { reason: e instanceof Error ? e.message : String(e) }) });
    }
  }

  return (
    <div class="agents-page">
      <h1>{t("agents")}</h1>
      {message && <p role={message.ok ? "status" : "alert"} class={message.ok ? "ok" : "error"}>{message.text}</p>}
      <button
        type="button"
        class="primary"
        onClick={() => setEditing({ agent_id: "", display_name: "", teams: [], accounts: [], capacity: 5, version: 0 })}
      >
        {t("new_agent")}
      </button>
      {editing && <AgentForm draft={editing} accounts={mine} onSave={save} onCancel={() => setEditing(null)} />}
      {items === null ? (
        <p class="muted">{t("loading")}</p>
      ) : (
        <div class="scroll">
          <table data-testid="agents-table">
            <thead>
              <tr>
                <th scope="col">{t("agent_id")}</th>
                <th scope="col">{t("display_name")}</th>
                <th scope="col">{t("team")}</th>
                <th scope="col">{t("accounts_field")}</th>
                <th scope="col">{t("capacity")}</th>
                <th scope="col"><span class="sr-only">{t("edit")}</span></th>
              </tr>
            </thead>
            <tbody>
              {items.map((a) => (
                <tr key={a.agent_id} data-agent={a.agent_id}>
                  <th scope="row">{a.agent_id}</th>
                  <td>{a.display_name}</td>
                  <td>{a.teams.join(", ")}</td>
                  <td>{a.accounts.join(", ")}</td>
                  <td>{a.capacity}</td>
                  <td>
                    <button type="button" onClick={() => setEditing({ ...a })}>{t("edit")}</button>{" "}
                    <button type="button" onClick={() => remove(a.agent_id)}>{t("delete")}</button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

function AgentForm(props: { draft: Draft; accounts: string[]; onSave: (d: Draft) => void; onCancel: () => void }) {
  const [d, setD] = useState<Draft>(props.draft);
  const [teams, setTeams] = useState(props.draft.teams.join(", "));
  const isNew = props.draft.version === 0;
  const offered = Array.from(new Set([...props.accounts, ...d.accounts]));
  return (
    <form
      class="agent-form"
      onSubmit={(e) => {
        e.preventDefault();
        props.onSave({ ...d, teams: teams.split(",").map((s) => s.trim()).filter(Boolean) });
      }}
    >
      <label class="field">
        {t("agent_id")}
        <input required disabled={!isNew} value={d.agent_id} onInput={(e) => setD({ ...d, agent_id: e.currentTarget.value.trim() })} />
      </label>
      <label class="field">
        {t("display_name")}
        <input required value={d.display_name} onInput={(e) => setD({ ...d, display_name: e.currentTarget.value })} />
      </label>
      <label class="field">
        {t("teams_field")}
        <input value={teams} onInput={(e) => setTeams(e.currentTarget.value)} />
      </label>
      <fieldset>
        <legend>{t("accounts_field")}</legend>
        {offered.map((a) => (
          <label key={a} class="check">
            <input
              type="checkbox"
              checked={d.accounts.includes(a)}
              onChange={(e) =>
                setD({ ...d, accounts: e.currentTarget.checked ? [...d.accounts, a] : d.accounts.filter((x) => x !== a) })
              }
            />
            {a}
          </label>
        ))}
      </fieldset>
      <label class="field">
        {t("capacity")}
        <input type="number" min={0} max={100} required value={d.capacity} onInput={(e) => setD({ ...d, capacity: Number(e.currentTarget.value) })} />
      </label>
      <button type="submit" class="primary">{t("save")}</button>{" "}
      <button type="button" onClick={props.onCancel}>{t("cancel")}</button>
    </form>
  );
}
