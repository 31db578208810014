// The deployment's settings, read once at start from /config.json: written at deploy time
// by the templates (a CloudFront function answers it) and locally by serve.mjs.

export interface DeskConfig {
  /** The desk API's base, `/api` when served behind the same origin. */
  api_url: string;
  cognito: {
    region: string;
    user_pool_id: string;
    client_id: string;
    /** Cognito's endpoint (`https://cognito-idp.<region>.amazonaws.com/`). */
    endpoint: string;
  };
  /** How often the inbox asks for news, in seconds (default 3). */
  poll_seconds?: number;
}

let loaded: DeskConfig | null = null;

export async function loadConfig(): Promise<DeskConfig> {
  const res = await fetch("/config.json", { cache: "no-store" });
  if (!res.ok) throw new Error(`/config.json: HTTP ${res.status}`);
  const c = (await res.json()) as DeskConfig;
  if (!c.api_url || !c.cognito?.client_id || !c.cognito?.endpoint) {
    throw new Error("/config.json lacks api_url or cognito.client_id/endpoint");
  }
  loaded = c;
  return c;
}

export function config(): DeskConfig {
  if (!loaded) throw new Error("config not loaded");
  return loaded;
}
