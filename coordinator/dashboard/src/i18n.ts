/**
 * The dashboard's languages: i18next with its React binding. The language is
 * the one chosen with the switch (kept in localStorage), else the first of the
 * browser's languages the dashboard has, else English. Each language's texts
 * are a JSON file in locales/, with the same keys and placeholders as English.
 */
import i18n from 'i18next';
import LanguageDetector from 'i18next-browser-languagedetector';
import { initReactI18next } from 'react-i18next';
import de from './locales/de.json';
import en from './locales/en.json';
import es from './locales/es.json';
import fr from './locales/fr.json';
import zh from './locales/zh.json';

export const LANGUAGES = ['en', 'fr', 'de', 'es', 'zh'] as const;
export type Language = (typeof LANGUAGES)[number];

/** Each language's name in itself, as the switch lists it. */
export const LANGUAGE_NAMES: Record<Language, string> = { en: 'English', fr: 'Français', de: 'Deutsch', es: 'Español', zh: '中文（简体）' };

/** What the page's lang attribute says: the Chinese texts are in simplified characters. */
const HTML_LANG: Record<Language, string> = { en: 'en', fr: 'fr', de: 'de', es: 'es', zh: 'zh-Hans' };

export const LANGUAGE_STORAGE_KEY = 'fl-dashboard-language';

void i18n
  .use(LanguageDetector)
  .use(initReactI18next)
  .init({
    resources: { en: { translation: en }, fr: { translation: fr }, de: { translation: de }, es: { translation: es }, zh: { translation: zh } },
    supportedLngs: [...LANGUAGES],
    // fr-CH reads French, zh-CN Chinese: the texts are per language, the formats per locale are Intl's.
    nonExplicitSupportedLngs: true,
    load: 'languageOnly',
    fallbackLng: 'en',
    detection: { order: ['localStorage', 'navigator'], lookupLocalStorage: LANGUAGE_STORAGE_KEY, caches: [] },
    // React escapes what it renders.
    interpolation: { escapeValue: false },
    returnNull: false,
  });

export function currentLanguage(): Language {
  const language = i18n.resolvedLanguage as Language | undefined;
  return language && LANGUAGES.includes(language) ? language : 'en';
}

/** The switch: a choice made here is remembered, where the browser's languages are only a default. */
export function chooseLanguage(language: Language): void {
  localStorage.setItem(LANGUAGE_STORAGE_KEY, language);
  void i18n.changeLanguage(language);
}

const showLanguage = () => {
  document.documentElement.lang = HTML_LANG[currentLanguage()];
};
i18n.on('languageChanged', showLanguage);
showLanguage();

export { i18n };
