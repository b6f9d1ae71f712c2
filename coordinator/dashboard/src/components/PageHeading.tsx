/** A page's h1, which also names the browser tab; it takes the focus after a navigation. */
import { useEffect, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';

export function PageHeading({ title, children }: { title: string; children?: ReactNode }) {
  const { t } = useTranslation();
  const documentTitle = t('app.documentTitle', { page: title });
  useEffect(() => {
    document.title = documentTitle;
  }, [documentTitle]);
  return (
    <div className="page-heading">
      <h1 tabIndex={-1}>{title}</h1>
      {children && <div className="page-actions">{children}</div>}
    </div>
  );
}
