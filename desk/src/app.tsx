// The desk's frame: signs in, loads who the person is, then the page of the route.
import { useEffect, useState } from "preact/hooks";
import { api, ApiError } from "./api";
import { session, signOut } from "./auth";
import { AgentsPage } from "./agents";
import { DashboardPage } from "./dashboard";
import { lang, setLang, t } from "./i18n";
import { Workspace } from "./inbox";
import { href, route } from "./router";
import { SignIn } from "./signin";
import { isSupervisor, me } from "./state";

export function App() {
  const s = session.value;
  lang.value; // re-render on a language change
  if (!s) return <SignIn />;
  return <SignedIn username={s.username} />;
}

function SignedIn({ username }: { username: string }) {
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    // Who this is, as last read in this tab: the inbox starts at once, and the answer of /me
    // replaces it.
    const cached = sessionStorage.getItem(`desk.me.${username}`);
    if (cached) me.value = JSON.parse(cached);
    api
      .me()
      .then((m) => {
        sessionStorage.setItem(`desk.me.${username}`, JSON.stringify(m));
        me.value = m;
      })
      .catch((e) => setError(e instanceof ApiError ? `${e.code}: ${e.message}` : String(e)));
    return () => (me.value = null);
  }, [username]);
  const r = route.value;
  return (
    <div class="shell">
      <header class="topbar">
        <span class="brand">{t("app_title")}</span>
        <nav aria-label={t("main_nav")}>
          <a href={href({ page: "inbox" })} aria-current={r.page === "inbox" || r.page === "conversation" ? "page" : undefined}>
            {t("nav_inbox")}
          </a>
          {isSupervisor.value && (
            <>
              <a href={href({ page: "dashboard" })} aria-current={r.page === "dashboard" ? "page" : undefined}>
                {t("nav_dashboard")}
              </a>
              <a href={href({ page: "agents" })} aria-current={r.page === "agents" ? "page" : undefined}>
                {t("nav_agents")}
              </a>
            </>
          )}
        </nav>
        <span class="spacer" />
        <button
          type="button"
          class="link"
          title={t("lang_switch_label")}
          lang={lang.value === "zh" ? "en" : "zh-CN"}
          onClick={() => setLang(lang.value === "zh" ? "en" : "zh")}
        >
          {t("lang_switch")}
        </button>
        <span class="who" data-testid="who">
          {me.value?.profile?.display_name ?? username}
        </span>
        <button type="button" onClick={() => signOut()}>
          {t("sign_out")}
        </button>
      </header>
      <main id="main">
        {error ? (
          <p role="alert" class="error">{t("error_generic", { reason: error })}</p>
        ) : !me.value ? (
          <p class="muted">{t("loading")}</p>
        ) : r.page === "dashboard" ? (
          <DashboardPage />
        ) : r.page === "agents" ? (
          <AgentsPage />
        ) : (
          <Workspace selected={r.page === "conversation" ? r.key : null} />
        )}
      </main>
    </div>
  );
}
