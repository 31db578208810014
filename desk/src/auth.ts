// Signing in to the deployment's Cognito user pool from the browser: InitiateAuth with
// USER_PASSWORD_AUTH, then REFRESH_TOKEN_AUTH before the access token expires
// (https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_InitiateAuth.html).
// The session lives in sessionStorage: it ends with the tab, and signing out forgets it and
// revokes the refresh token (GlobalSignOut).
import { signal } from "@preact/signals";
import { config } from "./config";

export interface Session {
  username: string;
  accessToken: string;
  refreshToken: string | null;
  /** Unix milliseconds when the access token expires. */
  expiresAt: number;
}

const KEY = "desk.session";

function restore(): Session | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

/** The signed-in session, or null. */
export const session = signal<Session | null>(restore());
/** Why the last session ended, shown on the sign-in page. */
export const endedBecause = signal<"expired" | null>(null);

function store(s: Session | null) {
  if (s) sessionStorage.setItem(KEY, JSON.stringify(s));
  else {
    sessionStorage.removeItem(KEY);
    for (const k of Object.keys(sessionStorage)) if (k.startsWith("desk.me.")) sessionStorage.removeItem(k);
  }
  session.value = s;
}

export class AuthError extends Error {
  constructor(
    readonly code: "bad_credentials" | "new_password_required" | "failed",
    message: string,
  ) {
    super(message);
  }
}

async function cognito(target: string, body: unknown): Promise<any> {
  const res = await fetch(config().cognito.endpoint, {
    method: "POST",
    headers: {
      "Content-Type": "application/x-amz-json-1.1",
      "X-Amz-Target": `AWSCognitoIdentityProviderService.${target}`,
    },
    body: JSON.stringify(body),
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) {
    const type = String(json.__type ?? res.headers.get("x-amzn-errortype") ?? "");
    if (type.includes("NotAuthorized") || type.includes("UserNotFound")) {
      throw new AuthError("bad_credentials", json.message ?? type);
    }
    throw new AuthError("failed", json.message ?? `HTTP ${res.status}`);
  }
  return json;
}

export async function signIn(username: string, password: string): Promise<void> {
  const out = await cognito("InitiateAuth", {
    AuthFlow: "USER_PASSWORD_AUTH",
    ClientId: config().cognito.client_id,
    AuthParameters: { USERNAME: username, PASSWORD: password },
  });
  if (out.ChallengeName) {
    throw new AuthError("new_password_required", out.ChallengeName);
  }
  const r = out.AuthenticationResult;
  endedBecause.value = null;
  store({
    username,
    accessToken: r.AccessToken,
    refreshToken: r.RefreshToken ?? null,
    expiresAt: Date.now() + Number(r.ExpiresIn ?? 3600) * 1000,
  });
}

let refreshing: Promise<boolean> | null = null;

/** A new access token from the refresh token; false (and signed out) when that fails. */
export function refresh(): Promise<boolean> {
  const s = session.value;
  if (!s?.refreshToken) {
    expire();
    return Promise.resolve(false);
  }
  refreshing ??= cognito("InitiateAuth", {
    AuthFlow: "REFRESH_TOKEN_AUTH",
    ClientId: config().cognito.client_id,
    AuthParameters: { REFRESH_TOKEN: s.refreshToken },
  })
    .then((out) => {
      const r = out.AuthenticationResult;
      store({
        ...s,
        accessToken: r.AccessToken,
        expiresAt: Date.now() + Number(r.ExpiresIn ?? 3600) * 1000,
      });
      return true;
    })
    .catch(() => {
      expire();
      return false;
    })
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

/** The access token to send, refreshed first when it expires within a minute. */
export async function accessToken(): Promise<string | null> {
  const s = session.value;
  if (!s) return null;
  if (s.expiresAt - Date.now() < 60_000 && !(await refresh())) return null;
  return session.value?.accessToken ?? null;
}

/** The session ended by itself (token expired and could not be refreshed). */
export function expire() {
  endedBecause.value = "expired";
  store(null);
}

export async function signOut(): Promise<void> {
  const s = session.value;
  store(null);
  if (s) {
    // Revokes the refresh token; the page forgets the session whatever the answer.
    await cognito("GlobalSignOut", { AccessToken: s.accessToken }).catch(() => undefined);
  }
}
