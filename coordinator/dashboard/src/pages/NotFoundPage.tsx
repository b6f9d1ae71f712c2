/** Any address the dashboard has no page for. */
import { Link } from '../router';
import { PageHeading } from '../components/PageHeading';

export function NotFoundPage() {
  return (
    <>
      <PageHeading title="Page not found" />
      <p>
        There is no such page. <Link to="/jobs">Go to the jobs</Link>.
      </p>
    </>
  );
}
