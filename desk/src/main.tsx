import { render } from "preact";
import { App } from "./app";
import { loadConfig } from "./config";
import { lang, setLang } from "./i18n";
import "./style.css";

setLang(lang.value);
const root = document.getElementById("app")!;
loadConfig()
  .then(() => render(<App />, root))
  .catch((e) => {
    root.textContent = `The desk cannot start: ${e instanceof Error ? e.message : e}`;
    root.setAttribute("role", "alert");
  });
