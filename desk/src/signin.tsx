import { useState } from "preact/hooks";
import { AuthError, endedBecause, signIn } from "./auth";
import { lang, setLang, t } from "./i18n";

export function SignIn() {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signIn(username.trim(), password);
    } catch (err) {
      if (err instanceof AuthError && err.code === "bad_credentials") setError(t("bad_credentials"));
      else if (err instanceof AuthError && err.code === "new_password_required")
        setError(t("new_password_required"));
      else setError(t("sign_in_failed", { reason: err instanceof Error ? err.message : String(err) }));
    } finally {
      setBusy(false);
    }
  }
  return (
    <main class="signin">
      <form onSubmit={submit} aria-labelledby="signin-title">
        <h1 id="signin-title">{t("app_title")}</h1>
        {endedBecause.value === "expired" && (
          <p role="status" class="warning">{t("session_expired")}</p>
        )}
        <label>
          {t("username")}
          <input
            name="username"
            autoComplete="username"
            required
            value={username}
            onInput={(e) => setUsername(e.currentTarget.value)}
          />
        </label>
        <label>
          {t("password")}
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </label>
        {error && <p role="alert" class="error">{error}</p>}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? t("signing_in") : t("sign_in")}
        </button>
        <button type="button" class="link" onClick={() => setLang(lang.value === "zh" ? "en" : "zh")}>
          {t("lang_switch")}
        </button>
      </form>
    </main>
  );
}
