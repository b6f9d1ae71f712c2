/**
 * The dashboard's one table: a region that scrolls on its own and takes the
 * keyboard, a header row, one row per item named by its row header, numbers
 * aligned right. A `stack` table turns into one card a row on a narrow screen,
 * each value beside its column's name (the cell's data-label).
 */
import type { ReactNode } from 'react';

export interface Column<T> {
  /** the column's identity among its siblings */
  key: string;
  /** its header, and the name beside each value on a narrow screen */
  label: string;
  /** a column of buttons: the header is there for screen readers only */
  hideLabel?: boolean;
  /** the cell that names the row (a <th scope="row">) */
  rowHeader?: boolean;
  numeric?: boolean;
  className?: string;
  /** the cell's tooltip */
  title?: (row: T) => string | undefined;
  testId?: string;
  render: (row: T) => ReactNode;
}

export interface TableProps<T> {
  rows: readonly T[];
  /** a falsy entry is a column left out (e.g. the actions, for a viewer) */
  columns: readonly (Column<T> | false | null | undefined)[];
  rowKey: (row: T) => string | number;
  /** `data-*` attributes of a row: what it is about, for styles and tests */
  rowData?: (row: T) => Record<string, string | number>;
  /** the region is named by this element (a section's heading), or by `label`, or by the caption */
  labelledBy?: string;
  label?: string;
  caption?: { id: string; text: ReactNode };
  testId?: string;
  /** one card a row on a narrow screen; off for wide tables of numbers, which scroll sideways */
  stack?: boolean;
  className?: string;
  /** shown in the table when it has no row; without it the table is left out */
  empty?: ReactNode;
}

export function Table<T>({ rows, columns, rowKey, rowData, labelledBy, label, caption, testId, stack = true, className, empty }: TableProps<T>) {
  const shown = columns.filter((c): c is Column<T> => Boolean(c));
  if (rows.length === 0 && empty === undefined) return null;
  const classes = [stack ? 'stack' : '', className ?? ''].join(' ').trim() || undefined;
  return (
    <div className="table-wrap" role="region" aria-labelledby={labelledBy ?? (label ? undefined : caption?.id)} aria-label={label} tabIndex={0}>
      <table className={classes} data-testid={testId}>
        {caption && <caption id={caption.id}>{caption.text}</caption>}
        <thead>
          <tr>
            {shown.map((c) => (
              <th scope="col" key={c.key} className={c.numeric ? 'num' : undefined}>
                {c.hideLabel ? <span className="visually-hidden">{c.label}</span> : c.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.length === 0 && (
            <tr>
              <td colSpan={shown.length} className="empty">
                {empty}
              </td>
            </tr>
          )}
          {rows.map((row) => (
            <tr key={rowKey(row)} {...dataAttributes(rowData?.(row))}>
              {shown.map((c) => {
                const props = {
                  className: [c.numeric ? 'num' : '', c.className ?? ''].join(' ').trim() || undefined,
                  title: c.title?.(row),
                  'data-testid': c.testId,
                };
                return c.rowHeader ? (
                  <th scope="row" key={c.key} {...props}>
                    {c.render(row)}
                  </th>
                ) : (
                  <td key={c.key} data-label={c.label} {...props}>
                    {c.render(row)}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function dataAttributes(data: Record<string, string | number> | undefined): Record<string, string | number> {
  return Object.fromEntries(Object.entries(data ?? {}).map(([name, value]) => [`data-${name}`, value]));
}
