import type { ExecutionContext } from '@nestjs/common';
import { AdminGuard, type AuthenticatedRequest } from './admin.guard';
import { Credentials } from './credentials';

describe('credentials and the REST guard', () => {
  const admin = 'admin-token-0123456789';
  const viewer = 'viewer-token-0123456789';
  const guard = new AdminGuard(new Credentials(admin, viewer));
  const call = (method: string, authorization?: string) => {
    const request = { method, headers: { authorization } } as unknown as AuthenticatedRequest;
    const context = { switchToHttp: () => ({ getRequest: () => request }) } as unknown as ExecutionContext;
    return { allowed: () => guard.canActivate(context), request };
  };

  it('knows the admin and the viewer token, and nobody else', () => {
    const credentials = new Credentials(admin, viewer);
    expect(credentials.roleOf(admin)).toBe('admin');
    expect(credentials.roleOf(viewer)).toBe('viewer');
    for (const other of ['', 'admin-token-012345678', `${viewer} `, undefined, 42, { token: admin }]) expect(credentials.roleOf(other)).toBeNull();
    expect(new Credentials(admin).roleOf(viewer)).toBeNull();
  });

  it('refuses a viewer token that is the admin token', () => {
    expect(() => new Credentials(admin, admin)).toThrow(/must differ/);
  });

  it('lets the admin do anything, and marks the request with the role', () => {
    for (const method of ['GET', 'POST', 'DELETE']) {
      const { allowed, request } = call(method, `Bearer ${admin}`);
      expect(allowed()).toBe(true);
      expect(request.role).toBe('admin');
    }
  });

  it('lets the viewer read, and refuses every change with FORBIDDEN', () => {
    for (const method of ['GET', 'HEAD']) expect(call(method, `Bearer ${viewer}`).allowed()).toBe(true);
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      expect(() => call(method, `Bearer ${viewer}`).allowed()).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
    }
  });

  it('refuses a missing or unknown token with UNAUTHORIZED, whatever the method', () => {
    for (const header of [undefined, '', admin, `Basic ${admin}`, 'Bearer nope-0123456789abcdef']) {
      expect(() => call('GET', header).allowed()).toThrow(expect.objectContaining({ code: 'UNAUTHORIZED' }));
    }
  });
});
