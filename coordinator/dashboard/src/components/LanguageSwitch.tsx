/** The language switch, in the header and on the sign-in page: each language named in itself. */
import { useTranslation } from 'react-i18next';
import { chooseLanguage, currentLanguage, LANGUAGE_NAMES, LANGUAGES, type Language } from '../i18n';

export function LanguageSwitch() {
  const { t } = useTranslation();
  return (
    <label className="language">
      <span className="visually-hidden">{t('language.label')}</span>
      <select value={currentLanguage()} onChange={(e) => chooseLanguage(e.target.value as Language)} data-testid="language">
        {LANGUAGES.map((language) => (
          <option key={language} value={language} lang={language === 'zh' ? 'zh-Hans' : language}>
            {LANGUAGE_NAMES[language]}
          </option>
        ))}
      </select>
    </label>
  );
}
