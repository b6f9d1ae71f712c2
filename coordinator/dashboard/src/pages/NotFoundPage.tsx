/** Any address the dashboard has no page for. */
import { useTranslation } from 'react-i18next';
import { PageHeading } from '../components/PageHeading';
import { Link } from '../router';

export function NotFoundPage() {
  const { t } = useTranslation();
  return (
    <>
      <PageHeading title={t('notFound.title')} />
      <p>
        {t('notFound.text')} <Link to="/jobs">{t('notFound.link')}</Link>
      </p>
    </>
  );
}
