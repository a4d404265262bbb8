//! The language of member pages: English, and German to prove the pages
//! are translatable. Chosen from the app's `ui_locales` (OpenID Connect
//! Core §3.1.2.1), then the member's own language setting, then the
//! browser's `Accept-Language`; English otherwise.
//!
//! Strings are looked up by their English text (gettext style): a string
//! missing from a catalog stays English rather than breaking the page.
//! Placeholders are named (`{app}`) and filled after translation.

use std::collections::HashMap;
use std::sync::OnceLock;

use actix_web::HttpRequest;

/// A page language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    De,
}

impl Lang {
    /// The BCP 47 tag for `<html lang>`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
        }
    }

    fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Lang::En),
            "de" => Some(Lang::De),
            _ => None,
        }
    }

    /// Translates a string that may not be in the catalog as `'static`
    /// (a title passed down from a caller).
    pub fn t_owned(self, en: &str) -> &str {
        match self {
            Lang::En => en,
            Lang::De => german().get(en).copied().unwrap_or(en),
        }
    }

    /// Translates an English string.
    pub fn t(self, en: &'static str) -> &'static str {
        self.t_owned(en)
    }
}

/// Picks the language: `ui_locales` (space-separated, in order), the
/// member's setting, then `Accept-Language` by quality.
pub fn pick(req: &HttpRequest, ui_locales: Option<&str>, member_locale: Option<&str>) -> Lang {
    if let Some(l) = ui_locales.into_iter().flat_map(|s| s.split(' ')).find_map(Lang::from_tag) {
        return l;
    }
    if let Some(l) = member_locale.and_then(Lang::from_tag) {
        return l;
    }
    let header = req.headers().get("accept-language").and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut ranked: Vec<(f32, Lang)> = header
        .split(',')
        .filter_map(|part| {
            let mut it = part.split(';');
            let lang = Lang::from_tag(it.next()?)?;
            let q = it.find_map(|p| p.trim().strip_prefix("q=")).and_then(|q| q.parse::<f32>().ok()).unwrap_or(1.0);
            (q > 0.0).then_some((q, lang))
        })
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    ranked.first().map(|(_, l)| *l).unwrap_or(Lang::En)
}

/// The `ui_locales` of an authorization request a `return_to` path carries.
pub fn ui_locales_in(return_to: Option<&str>) -> Option<String> {
    let url = url::Url::parse(&format!("http://gatehouse.invalid{}", return_to?)).ok()?;
    url.query_pairs().find(|(k, _)| k == "ui_locales").map(|(_, v)| v.into_owned())
}

fn german() -> &'static HashMap<&'static str, &'static str> {
    static DE: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    DE.get_or_init(|| GERMAN.iter().copied().collect())
}

/// English → German.
const GERMAN: &[(&str, &str)] = &[
    // Sign-in
    ("Sign in", "Anmelden"),
    ("Sign in to continue to {app}.", "Melden Sie sich an, um mit {app} fortzufahren."),
    ("E-mail address", "E-Mail-Adresse"),
    ("Password", "Passwort"),
    ("Forgot your password?", "Passwort vergessen?"),
    ("New here?", "Neu hier?"),
    ("Create an account", "Konto erstellen"),
    ("Or:", "Oder:"),
    ("Sign in with {provider}", "Anmelden mit {provider}"),
    ("The form has expired. Please try again.", "Das Formular ist abgelaufen. Bitte versuchen Sie es noch einmal."),
    ("The e-mail address or password is incorrect", "E-Mail-Adresse oder Passwort ist falsch"),
    (
        "Too many failed sign-in attempts. Please wait a while and try again",
        "Zu viele fehlgeschlagene Anmeldeversuche. Bitte warten Sie eine Weile und versuchen Sie es dann erneut",
    ),
    ("This account is closed", "Dieses Konto ist geschlossen"),
    // Consent
    ("Allow {app} access?", "{app} Zugriff erlauben?"),
    ("You are signed in as {who}.", "Sie sind angemeldet als {who}."),
    ("Not you?", "Nicht Sie?"),
    ("{app} ({domain}) would like to:", "{app} ({domain}) möchte:"),
    ("Allow", "Erlauben"),
    ("Deny", "Ablehnen"),
    (
        "You can take this back at any time on your account page.",
        "Sie können das jederzeit auf Ihrer Kontoseite widerrufen.",
    ),
    ("Sign you in and tell the app who you are", "Sie anmelden und der App mitteilen, wer Sie sind"),
    ("See your name and language", "Ihren Namen und Ihre Sprache sehen"),
    ("See your e-mail address", "Ihre E-Mail-Adresse sehen"),
    ("See the groups you belong to", "Die Gruppen sehen, zu denen Sie gehören"),
    (
        "Stay connected to the app while you are away (refresh tokens)",
        "Mit der App verbunden bleiben, während Sie nicht da sind",
    ),
    // Password reset
    (
        "Enter the e-mail address of your account. We will send a link to choose a new password; it works once, for {minutes} minutes.",
        "Geben Sie die E-Mail-Adresse Ihres Kontos ein. Wir senden Ihnen einen Link, mit dem Sie ein neues Passwort wählen; er funktioniert einmal, {minutes} Minuten lang.",
    ),
    ("Send the link", "Link senden"),
    ("Back to sign-in", "Zurück zur Anmeldung"),
    ("Check your e-mail", "Prüfen Sie Ihre E-Mails"),
    (
        "If an account uses that address, a link to choose a new password is on its way. It works once, for {minutes} minutes. Nothing arrived? Look in your spam folder, or ask again in a few minutes.",
        "Wenn ein Konto diese Adresse verwendet, ist ein Link für ein neues Passwort unterwegs. Er funktioniert einmal, {minutes} Minuten lang. Nichts angekommen? Sehen Sie im Spam-Ordner nach oder fragen Sie in ein paar Minuten erneut.",
    ),
    (
        "This server cannot send e-mail, so it cannot mail you a reset link. Ask the people who run it to set a new password for you.",
        "Dieser Server kann keine E-Mails senden und Ihnen daher keinen Link schicken. Bitten Sie die Betreiber, ein neues Passwort für Sie zu setzen.",
    ),
    ("Choose a new password", "Neues Passwort wählen"),
    ("New password (at least {min} characters)", "Neues Passwort (mindestens {min} Zeichen)"),
    ("New password again", "Neues Passwort wiederholen"),
    ("Set the new password", "Neues Passwort setzen"),
    (
        "Every device signed in to your account will be signed out.",
        "Alle Geräte, die bei Ihrem Konto angemeldet sind, werden abgemeldet.",
    ),
    ("The two passwords differ.", "Die beiden Passwörter stimmen nicht überein."),
    ("Password changed", "Passwort geändert"),
    (
        "Your new password is set, and every device was signed out.",
        "Ihr neues Passwort ist gesetzt, und alle Geräte wurden abgemeldet.",
    ),
    ("Sign in with the new password", "Mit dem neuen Passwort anmelden"),
    // Sign-up
    ("Create your account", "Konto erstellen"),
    ("Your name", "Ihr Name"),
    ("Password again", "Passwort wiederholen"),
    ("Password (at least {min} characters)", "Passwort (mindestens {min} Zeichen)"),
    ("Create account", "Konto erstellen"),
    (
        "We will send you a link to confirm your e-mail address.",
        "Wir senden Ihnen einen Link, um Ihre E-Mail-Adresse zu bestätigen.",
    ),
    ("Have an account?", "Sie haben schon ein Konto?"),
    (
        "We sent a message to {email}. Open the link in it to confirm your address; then you can sign in to every app that uses this account.",
        "Wir haben eine Nachricht an {email} gesendet. Öffnen Sie den Link darin, um Ihre Adresse zu bestätigen; danach können Sie sich bei jeder App anmelden, die dieses Konto nutzt.",
    ),
    ("Address confirmed", "Adresse bestätigt"),
    (
        "Thank you: {email} is confirmed. You can now sign in to every app that uses this account.",
        "Danke: {email} ist bestätigt. Sie können sich jetzt bei jeder App anmelden, die dieses Konto nutzt.",
    ),
    ("Confirm your e-mail address first", "Bestätigen Sie zuerst Ihre E-Mail-Adresse"),
    (
        "{app} can sign you in once you have confirmed your e-mail address. Open the link we sent you, then {try_again}.",
        "{app} kann Sie anmelden, sobald Sie Ihre E-Mail-Adresse bestätigt haben. Öffnen Sie den Link, den wir Ihnen gesendet haben, und {try_again}.",
    ),
    ("try again", "versuchen Sie es erneut"),
    ("Send the link again", "Link erneut senden"),
    ("Link sent", "Link gesendet"),
    (
        "A new confirmation link is on its way. Open it, then {continue}.",
        "Ein neuer Bestätigungslink ist unterwegs. Öffnen Sie ihn, dann {continue}.",
    ),
    ("continue", "weiter"),
    // Account page
    ("Your account", "Ihr Konto"),
    ("Profile", "Profil"),
    ("Name", "Name"),
    ("Language", "Sprache"),
    ("Browser default", "Wie im Browser"),
    ("E-mail address:", "E-Mail-Adresse:"),
    ("(confirmed)", "(bestätigt)"),
    ("(not confirmed)", "(nicht bestätigt)"),
    ("Save profile", "Profil speichern"),
    ("Current password", "Aktuelles Passwort"),
    ("Change password", "Passwort ändern"),
    ("Two-step sign-in", "Anmeldung in zwei Schritten"),
    (
        "A code from an authenticator app can be asked for after your password.",
        "Nach Ihrem Passwort kann ein Code aus einer Authenticator-App abgefragt werden.",
    ),
    ("Manage two-step sign-in", "Anmeldung in zwei Schritten verwalten"),
    ("Allow Single Sign-On", "Single Sign-On erlauben"),
    ("Single sign-on is {state}.", "Single Sign-On ist {state}."),
    ("on", "an"),
    ("off", "aus"),
    ("Switch on", "Einschalten"),
    ("Switch off", "Ausschalten"),
    (
        "When it is on, an app that manages your account for you (such as a billing portal) may open a signed-in page for you with a one-time link, without asking for your password. When it is off, those links are refused. It does not change signing in to apps yourself, with your password or a \"Sign in with\" button.",
        "Wenn es an ist, darf eine App, die Ihr Konto für Sie verwaltet (etwa ein Kundenportal), Ihnen mit einem einmaligen Link eine angemeldete Seite öffnen, ohne nach Ihrem Passwort zu fragen. Wenn es aus ist, werden solche Links abgelehnt. Ihre eigene Anmeldung bei Apps, mit Passwort oder über eine \"Anmelden mit\"-Schaltfläche, ändert es nicht.",
    ),
    ("Where you are signed in", "Wo Sie angemeldet sind"),
    ("Device", "Gerät"),
    ("Since (UTC)", "Seit (UTC)"),
    ("IP address", "IP-Adresse"),
    ("How", "Wie"),
    ("(this browser)", "(dieser Browser)"),
    ("Sign out", "Abmelden"),
    ("Sign out everywhere else ({n})", "Überall sonst abmelden ({n})"),
    ("Apps you allowed", "Apps, denen Sie Zugriff erlaubt haben"),
    ("App", "App"),
    ("Allowed on (UTC)", "Erlaubt am (UTC)"),
    ("Revoke access", "Zugriff entziehen"),
    (
        "You have not allowed any app yet (apps run by this site's operator do not ask).",
        "Sie haben noch keiner App Zugriff erlaubt (Apps des Betreibers dieser Website fragen nicht).",
    ),
    ("Linked sign-ins", "Verknüpfte Anmeldungen"),
    ("Through", "Über"),
    ("As", "Als"),
    ("Last used", "Zuletzt benutzt"),
    ("Unlink", "Verknüpfung lösen"),
    ("Connect {provider}", "{provider} verbinden"),
    (
        "Connect another way to sign in. You may be asked to sign in again first.",
        "Verbinden Sie eine weitere Anmeldemöglichkeit. Eventuell müssen Sie sich dafür erneut anmelden.",
    ),
    ("The sign-in is connected to your account.", "Die Anmeldung ist mit Ihrem Konto verbunden."),
    ("The sign-in is no longer linked to your account.", "Die Anmeldung ist nicht mehr mit Ihrem Konto verknüpft."),
    (
        "For your security, please sign in again to continue.",
        "Bitte melden Sie sich zu Ihrer Sicherheit erneut an, um fortzufahren.",
    ),
    ("No sign-in through another provider is linked.", "Keine Anmeldung über einen anderen Anbieter ist verknüpft."),
    ("Your profile was saved.", "Ihr Profil wurde gespeichert."),
    ("Every other browser was signed out.", "Alle anderen Browser wurden abgemeldet."),
    ("The app no longer has access.", "Die App hat keinen Zugriff mehr."),
    ("Table (scrolls sideways)", "Tabelle (seitlich verschiebbar)"),
    // Errors
    ("Go to sign-in", "Zur Anmeldung"),
    ("Your account", "Ihr Konto"),
    ("If you ask for help, quote the request id below.", "Wenn Sie um Hilfe bitten, nennen Sie die Anfragenummer unten."),
    ("Request id", "Anfragenummer"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_german_string_keeps_the_placeholders() {
        for (en, de) in GERMAN {
            let names = |s: &str| {
                let mut v: Vec<String> =
                    s.split('{').skip(1).filter_map(|p| p.split('}').next().map(String::from)).collect();
                v.sort();
                v
            };
            assert_eq!(names(en), names(de), "{en:?} / {de:?}");
        }
    }

    #[test]
    fn accept_language_is_ranked_and_unknown_languages_fall_back() {
        use actix_web::test::TestRequest;
        let req = |h: &str| TestRequest::default().insert_header(("accept-language", h)).to_http_request();
        assert_eq!(pick(&req("fr-CH, de;q=0.9, en;q=0.8"), None, None), Lang::De);
        assert_eq!(pick(&req("en-GB,de;q=0.5"), None, None), Lang::En);
        assert_eq!(pick(&req("fr"), None, None), Lang::En);
        assert_eq!(pick(&req("en"), Some("fr de"), None), Lang::De, "ui_locales first");
        assert_eq!(pick(&req("en"), None, Some("de-CH")), Lang::De, "then the member's setting");
        assert_eq!(Lang::De.t("untranslated text"), "untranslated text");
    }
}
