import { languageSwitch, translate } from "./i18n.js";

translate();
languageSwitch(document.getElementById("lang"));
