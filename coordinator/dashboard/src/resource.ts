/**
 * Loading what a page shows from the REST API: again whenever the live feed
 * (re)connects, and on demand. A refused token signs the tab out through the
 * session's Api.
 */
import { useCallback, useEffect, useState, type Dispatch, type SetStateAction } from 'react';
import { ApiError, type Api } from './api';
import { useLiveStatus } from './live';
import { useSession } from './session';

export interface Resource<T> {
  data: T | undefined;
  error: ApiError | undefined;
  /** for live events: change the loaded data in place */
  setData: Dispatch<SetStateAction<T | undefined>>;
  reload: () => void;
}

export function useResource<T>(key: string, load: (api: Api) => Promise<T>, merge?: (loaded: T, current: T | undefined) => T): Resource<T> {
  const { api } = useSession();
  const { connection } = useLiveStatus();
  const [data, setData] = useState<T>();
  const [error, setError] = useState<ApiError>();
  const [generation, setGeneration] = useState(0);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);

  useEffect(() => {
    let current = true;
    load(api).then(
      (loaded) => {
        if (!current) return;
        setError(undefined);
        // A live event may have landed while the request was under way: merging keeps it.
        setData((before) => (merge ? merge(loaded, before) : loaded));
      },
      (err: unknown) => {
        if (!current) return;
        setError(err instanceof ApiError ? err : new ApiError(0, 'INTERNAL', String(err)));
      },
    );
    return () => {
      current = false;
    };
    // `load` and `merge` are read afresh on each load: `key` names what they load.
  }, [api, key, connection, generation]);

  // A different resource starts empty rather than showing the previous one's data.
  useEffect(() => {
    setData(undefined);
    setError(undefined);
  }, [key]);

  return { data, error, setData, reload };
}
